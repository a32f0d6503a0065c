"""The engine on slips computed by hand, and its properties (Hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.settlement.worked import CATALOGUE, POLICY, bill, policy_with
from yilian.settlement.engine import (
    AssistanceCategory,
    BillLine,
    Filing,
    LineNote,
    Slip,
    YearToDate,
    item_rules,
    settle,
    split_line,
    split_lines,
)
from yilian.settlement.policy import parse_policy

D = Decimal


def amounts(slip: Slip) -> dict[str, str]:
    """The slip's headline figures as text."""
    names = ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
             "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay", "fund_pay_sumamt",
             "psn_part_amt", "acct_pay", "psn_cash_pay")
    return {name: str(getattr(slip, name)) for name in names}


def test_each_class_and_over_limit_drugs_split_as_a_clerk_would_by_hand() -> None:
    slip = settle(policy=POLICY, catalogue=CATALOGUE, bill=bill(
        ("A001", "10", "33.33"),   # 甲类 333.30 all in scope
        ("B001", "2", "1000"),     # 乙类 2000.00: policy's 10 % = 200.00 first, 1800.00 in scope
        ("B002", "1", "798.00"),   # 乙类 catalogue's 30 % = 239.40 first, 558.60 in scope
        ("C001", "3", "100"),      # 丙类 300.00 self-paid
        ("L001", "20", "12.50"),   # limit 10.00: 20 × 2.50 = 50.00 over, 200.00 in scope
        ("LB01", "4", "60.00"),    # limit 50.00: 40.00 over; 20 % of 200.00 = 40.00 first
    ))
    # In scope 333.30 + 1800 + 558.60 + 200 + 160 = 3051.90; level 2: 500 deductible,
    # (3051.90 − 500) × 80 % = 2041.52 from the pooled fund.
    assert amounts(slip) == {
        "medfee_sumamt": "3921.30", "fulamt_ownpay_amt": "300.00", "overlmt_selfpay": "90.00",
        "preselfpay_amt": "479.40", "inscp_scp_amt": "3051.90", "act_pay_dedc": "500.00",
        "hifp_pay": "2041.52", "hifmi_pay": "0.00", "fund_pay_sumamt": "2041.52",
        "psn_part_amt": "1879.78", "acct_pay": "0.00", "psn_cash_pay": "1879.78",
    }
    lb01 = slip.lines[-1]
    assert (lb01.overlmt_selfpay, lb01.preselfpay_amt, lb01.inscp_scp_amt) == (
        D("40.00"), D("40.00"), D("160.00"))


def test_codes_missing_from_the_catalogue_are_self_paid_and_listed() -> None:
    slip = settle(policy=POLICY, catalogue=CATALOGUE,
                  bill=bill(("A001", "1", "1000"), ("ZZ999", "2", "25.005")))
    assert slip.not_in_catalogue == ["ZZ999"]
    assert slip.lines[1].note is LineNote.NOT_IN_CATALOGUE
    assert slip.lines[1].fulamt_ownpay_amt == D("50.01")  # 50.010 → half up to the fen
    assert slip.medfee_sumamt == D("1050.01")
    assert slip.hifp_pay == D("400.00")  # (1000 − 500) × 80 %


def test_a_deductible_larger_than_the_in_scope_cost_takes_all_of_it() -> None:
    slip = settle(policy=POLICY, catalogue=CATALOGUE, bill=bill(("A001", "1", "600"), level=3))
    assert (slip.act_pay_dedc, slip.hifp_pay, slip.psn_part_amt) == (D("600.00"), 0, D("600.00"))


def test_the_annual_cap_is_reached_in_the_middle_of_a_bill() -> None:
    ytd = YearToDate(hifp_pay=D("149000"), admissions=3)
    slip = settle(policy=POLICY, catalogue=CATALOGUE,
                  bill=bill(("A001", "1", "5200"), level=1, year_to_date=ytd))
    # (5200 − 200) × 90 % = 4500, but only 150000 − 149000 = 1000 of the cap is left.
    assert (slip.hifp_pay, slip.psn_part_amt, slip.cap_remaining) == (
        D("1000"), D("4200.00"), D("1000"))


FILINGS = [Filing.FILED, Filing.REFERRAL, Filing.EMERGENCY, Filing.NONE]


@pytest.mark.parametrize(
    ("multiplier", "expected"),
    [
        # points: 65 % − 0 / 10 / 10 / 20 points, on 10,000 above the level-3 deductible
        (False, ["6500.00", "5500.00", "5500.00", "4500.00"]),
        # multiplier: 65 % × 1 / 0.9 / 1 / 0.8
        (True, ["6500.00", "5850.00", "6500.00", "5200.00"]),
    ],
)
def test_each_filing_status_under_points_and_multiplier(
    multiplier: bool, expected: list[str]
) -> None:
    policy = parse_policy(policy_with(multiplier=multiplier), source="p.yaml")
    paid = [
        str(settle(policy=policy, catalogue=CATALOGUE, bill=bill(
            ("A001", "1", "11000"), level=3, filing=filing, treatment_region="110102",
        )).hifp_pay)
        for filing in FILINGS
    ]
    assert paid == expected
    local = settle(policy=policy, catalogue=CATALOGUE,
                   bill=bill(("A001", "1", "11000"), level=3, filing=Filing.NONE))
    assert (local.out_of_region, local.hifp_pay) == (False, D("6500.00"))  # no cut at home


def test_ratio_bands_later_admission_and_consortium_deductible() -> None:
    policy = parse_policy(policy_with(
        "ratio_bands:\n  3: [{up_to: 30000, ratio: 0.65}, {up_to: 50000, ratio: 0.75},"
        " {ratio: 0.85}]\n"
        "later_admission_deductible: {3: 500}\n"
        "consortium_continuous_deductible: true\n"
    ), source="bands.yaml")
    first = settle(policy=policy, catalogue=CATALOGUE,
                   bill=bill(("A001", "1", "61000"), level=3))
    # 60,000 above the deductible: 30,000 × 65 % + 20,000 × 75 % + 10,000 × 85 %
    assert first.hifp_pay == D("43000.00")
    second = settle(policy=policy, catalogue=CATALOGUE, bill=bill(
        ("A001", "1", "2000"), level=3, year_to_date=YearToDate(admissions=1)))
    assert (second.act_pay_dedc, second.hifp_pay) == (D("500"), D("975.00"))
    referred = settle(policy=policy, catalogue=CATALOGUE, bill=bill(
        ("A001", "1", "2000"), level=3, filing=Filing.REFERRAL,
        consortium_deductible_paid=D("200")))
    assert (referred.act_pay_dedc, referred.hifp_pay) == (D("800"), D("780.00"))


def test_critical_illness_layer_pays_above_the_threshold_in_bands() -> None:
    policy = parse_policy(policy_with(
        "critical_illness:\n  threshold: 15000\n"
        "  bands: [{up_to: 100000, ratio: 0.60}, {ratio: 0.70}]\n  cap: 400000\n"
    ), source="ci.yaml")
    slip = settle(policy=policy, catalogue=CATALOGUE, bill=bill(("A001", "1", "51000"), level=3))
    # Pooled 50,000 × 65 % = 32,500; in-scope self-pay 18,500, 3,500 above 15,000 at 60 %.
    assert (slip.hifp_pay, slip.hifmi_pay, slip.fund_pay_sumamt, slip.psn_part_amt) == (
        D("32500.00"), D("2100.00"), D("34600.00"), D("16400.00"))
    later = settle(policy=policy, catalogue=CATALOGUE, bill=bill(
        ("A001", "1", "51000"), level=3, year_to_date=YearToDate(hifmi_base=D("95000"))))
    # 95,000 → 113,500: 5,000 at 60 % + 13,500 at 70 %
    assert later.hifmi_pay == D("12450.00")


MEDICAL_ASSISTANCE = (
    "critical_illness:\n  threshold: 15000\n"
    "  bands: [{up_to: 100000, ratio: 0.60}, {ratio: 0.70}]\n  cap: 400000\n"
    "medical_assistance:\n  ratio: {extreme_poverty: 1.00, subsistence: 0.70}\n"
    "  annual_cap: 50000\n"
)


@pytest.mark.parametrize(
    ("category", "paid_before", "maf", "patient"),
    [
        # In-scope self-pay left after both funds: 18,500 − 2,100 = 16,400.
        (AssistanceCategory.EXTREME_POVERTY, "0", "16400.00", "300.00"),  # 100 %: only 丙类 left
        (AssistanceCategory.SUBSISTENCE, "0", "11480.00", "5220.00"),  # 70 % of 16,400
        (AssistanceCategory.SUBSISTENCE, "45000", "5000.00", "11700.00"),  # cap 50,000 reached
        (AssistanceCategory.NONE, "0", "0.00", "16700.00"),
    ],
)
def test_medical_assistance_pays_a_share_of_what_the_funds_left_up_to_its_cap(
    category: AssistanceCategory, paid_before: str, maf: str, patient: str
) -> None:
    policy = parse_policy(policy_with(MEDICAL_ASSISTANCE), source="maf.yaml")
    slip = settle(policy=policy, catalogue=CATALOGUE, bill=bill(
        ("A001", "1", "51000"), ("C001", "1", "300"), level=3, assistance=category,
        year_to_date=YearToDate(maf_pay=D(paid_before))))
    # Pooled (51,000 − 1,000) × 65 % = 32,500; critical illness 3,500 × 60 % = 2,100;
    # the 300.00 of class C is the patient's whatever their category.
    assert (slip.hifp_pay, slip.hifmi_pay, slip.maf_pay) == (D("32500.00"), D("2100.00"), D(maf))
    assert slip.fund_pay_sumamt == D("34600.00") + D(maf)
    assert slip.psn_part_amt == D(patient)
    assert slip.medfee_sumamt == slip.fund_pay_sumamt + slip.psn_part_amt == D("51300.00")


def test_no_medical_assistance_without_the_policy_part() -> None:
    slip = settle(policy=POLICY, catalogue=CATALOGUE, bill=bill(
        ("A001", "1", "5000"), assistance=AssistanceCategory.EXTREME_POVERTY))
    assert (slip.maf_pay, slip.fund_pay_sumamt) == (D("0.00"), D("3600.00"))  # 4,500 × 80 %


def test_class_b_share_from_the_policy_when_the_region_says_so() -> None:
    policy = parse_policy(policy_with("class_b_source: policy\n"), source="b.yaml")
    slip = settle(policy=policy, catalogue=CATALOGUE, bill=bill(("B002", "1", "798.00")))
    assert slip.preselfpay_amt == D("79.80")  # the policy's 10 %, not the catalogue's 30 %


def test_an_employee_account_pays_before_cash() -> None:
    policy = replace(POLICY, personal_account=True)
    from yilian.patients.models import InsuranceScheme

    slip = settle(policy=policy, catalogue=CATALOGUE, bill=replace(
        bill(("A001", "1", "1000")), scheme=InsuranceScheme.EMPLOYEE,
        account_balance=D("150.00")))
    assert (slip.psn_part_amt, slip.acct_pay, slip.psn_cash_pay) == (
        D("600.00"), D("150.00"), D("450.00"))


# ---------------------------------------------------------------- properties

codes = st.sampled_from(["A001", "B001", "B002", "C001", "L001", "LB01", "NOPE1"])
prices = st.decimals(min_value=D("0.01"), max_value=D("20000"), places=2)
quantities = st.decimals(min_value=D("0.5"), max_value=D("30"), places=1)
lines = st.lists(st.builds(BillLine, codes, quantities, prices), min_size=1, max_size=12)
ytd_paid = st.decimals(min_value=D(0), max_value=D("150000"), places=2)
policies = st.sampled_from([
    POLICY,
    parse_policy(policy_with(multiplier=True), source="m.yaml"),
    parse_policy(policy_with("critical_illness: {threshold: 15000, bands: [{ratio: 0.6}], "
                             "cap: 1000}\n"), source="ci.yaml"),
    parse_policy(policy_with(MEDICAL_ASSISTANCE), source="maf.yaml"),
])
EXAMPLES = settings(max_examples=60, deadline=None)


@EXAMPLES
@given(policies, lines, ytd_paid, st.sampled_from(FILINGS), st.sampled_from([1, 2, 3]),
       st.sampled_from(["130730", "110102"]), st.sampled_from(list(AssistanceCategory)))
def test_slips_reconcile_and_fund_pay_stays_within_the_cap(
    policy, bill_lines, paid, filing, level, region, category  # type: ignore[no-untyped-def]
) -> None:
    the_bill = replace(bill(level=level, filing=filing, treatment_region=region),
                       lines=tuple(bill_lines), year_to_date=YearToDate(hifp_pay=paid),
                       assistance=category)
    slip = settle(policy=policy, catalogue=CATALOGUE, bill=the_bill)
    assert slip.medfee_sumamt == slip.fund_pay_sumamt + slip.psn_part_amt
    assert slip.medfee_sumamt == (slip.fulamt_ownpay_amt + slip.overlmt_selfpay
                                  + slip.preselfpay_amt + slip.inscp_scp_amt)
    assert 0 <= slip.hifp_pay <= policy.annual_cap - paid
    assert 0 <= slip.fund_pay_sumamt <= slip.inscp_scp_amt
    assert slip.psn_part_amt == slip.acct_pay + slip.psn_cash_pay
    assert slip.fund_pay_sumamt == slip.hifp_pay + slip.hifmi_pay + slip.maf_pay
    assert 0 <= slip.maf_pay <= (policy.medical_assistance.annual_cap
                                 if policy.medical_assistance else 0)
    assert all(getattr(slip, n).as_tuple().exponent >= -2
               for n in ("hifp_pay", "hifmi_pay", "maf_pay"))


@EXAMPLES
@given(policies, lines, ytd_paid, quantities, prices)
def test_adding_a_class_c_line_never_changes_fund_pay(
    policy, bill_lines, paid, qty, price  # type: ignore[no-untyped-def]
) -> None:
    before = replace(bill(), lines=tuple(bill_lines), year_to_date=YearToDate(hifp_pay=paid))
    after = replace(before, lines=(*before.lines, BillLine("C001", qty, price)))
    one = settle(policy=policy, catalogue=CATALOGUE, bill=before)
    two = settle(policy=policy, catalogue=CATALOGUE, bill=after)
    assert two.fund_pay_sumamt == one.fund_pay_sumamt
    assert two.psn_part_amt - one.psn_part_amt == two.lines[-1].det_item_fee_sumamt


tiny_prices = st.decimals(min_value=D(0), max_value=D("20000"), places=3)  # 0.004 rounds to 0
policy_share = parse_policy(policy_with("class_b_source: policy\n"), source="share.yaml")


@EXAMPLES
@given(st.sampled_from([POLICY, policy_share]),
       st.lists(st.builds(BillLine, codes, quantities, tiny_prices), min_size=1, max_size=12))
def test_the_fast_line_split_is_the_named_rules_line_by_line(
    policy, bill_lines  # type: ignore[no-untyped-def]
) -> None:
    fast, totals = split_lines(bill_lines, item_rules(CATALOGUE, policy))
    by_rule = [split_line(line, CATALOGUE.items.get(line.code), policy) for line in bill_lines]
    assert list(fast) == by_rule
    assert [str(value) for line in fast for value in line[6:11]] == [
        str(value) for line in by_rule for value in line[6:11]]  # same fen, same exponent
    assert totals == tuple(sum((line[n] for line in by_rule), D("0.00")) for n in range(6, 11))
