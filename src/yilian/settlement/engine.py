"""The settlement engine: 就医地目录、参保地政策, one named pure rule per step, Decimal throughout.

医保发〔2022〕22号: the treatment place's catalogue decides each item's class and price limit;
the insured place's policy decides deductible 起付标准, ratios and cap 最高支付限额. Every
amount on a line is rounded to the fen (ROUND_HALF_UP) once, and slip totals are sums of
rounded lines, so a slip always reconciles: medfee_sumamt = fund_pay_sumamt + psn_part_amt.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from yilian.patients.models import InsuranceScheme

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
ONE = Decimal(1)
# Since 2023-04-01 the insured of Beijing, Tianjin and Hebei count as filed anywhere in the region.
JING_JIN_JI_PROVINCES = frozenset({"11", "12", "13"})
JING_JIN_JI_FILED_SINCE = date(2023, 4, 1)


class ItemClass(enum.StrEnum):
    """Catalogue class of an item."""

    A = "A"  # 甲类: fully in scope
    B = "B"  # 乙类: a self-pay-first share, the rest in scope
    C = "C"  # 丙类: fully self-paid


class ItemCategory(enum.StrEnum):
    """What a catalogue item is."""

    DRUG = "drug"  # 药品
    SERVICE = "service"  # 诊疗项目
    MATERIAL = "material"  # 医用耗材


class Filing(enum.StrEnum):
    """Out-of-region filing status 异地就医备案."""

    FILED = "filed"  # 已备案（含京津冀视同备案）
    REFERRAL = "referral"  # 转诊备案
    EMERGENCY = "emergency"  # 急诊抢救
    NONE = "none"  # 未备案


class CutMode(enum.StrEnum):
    """How a region lowers the ratio of an out-of-region patient."""

    POINTS = "points"  # 降低百分点: ratio − cut
    MULTIPLIER = "multiplier"  # 按比例折算: ratio × m


class ClassBSource(enum.StrEnum):
    """Where the 乙类先行自付 share comes from."""

    CATALOGUE = "catalogue"  # the treatment place's catalogue row, the policy's share when blank
    POLICY = "policy"  # always the insured place's policy


class AssistanceCategory(enum.StrEnum):
    """Who the medical-assistance fund 医疗救助 helps (from the person's coverage record)."""

    NONE = "none"  # 非救助对象
    EXTREME_POVERTY = "extreme_poverty"  # 特困供养人员
    SUBSISTENCE = "subsistence"  # 最低生活保障对象（低保）


class LineNote(enum.StrEnum):
    """Why a line was treated specially."""

    NOT_IN_CATALOGUE = "not_in_catalogue"  # 目录外项目，全额自费


# ---------------------------------------------------------------- data the rules read


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One row of the treatment place's catalogue."""

    code: str
    name: str
    category: ItemCategory
    item_class: ItemClass
    class_b_self_pay_first: Decimal | None = None
    price_limit: Decimal | None = None


# What the hot loop needs of an item, read once per catalogue and class-B share:
# (name, class, category, fully self-paid, price limit, class-B share or None).
ItemRule = tuple[str, ItemClass, ItemCategory, bool, Decimal | None, Decimal | None]


@dataclass(frozen=True)
class Catalogue:
    """The treatment place's item catalogue, by code."""

    region_code: str
    version: str
    items: Mapping[str, CatalogueItem]
    # Item rules per (class-B source, policy share), built on first use (see item_rules).
    _rules: dict[tuple[ClassBSource, Decimal], dict[str, ItemRule]] = field(
        default_factory=dict, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Band:
    """A segment of an amount paid at one ratio: everything up to ``up_to`` (None: no end)."""

    up_to: Decimal | None
    ratio: Decimal


@dataclass(frozen=True)
class OutOfRegion:
    """How the ratio drops for a patient treated outside the insured region, by filing."""

    mode: CutMode
    adjustment: Mapping[Filing, Decimal]


@dataclass(frozen=True)
class CriticalIllness:
    """大病保险: paid on the year's in-scope self-pay above a threshold, in bands, up to a cap."""

    threshold: Decimal
    bands: tuple[Band, ...]  # ``up_to`` is the year's cumulative in-scope self-pay
    cap: Decimal


@dataclass(frozen=True)
class MedicalAssistance:
    """医疗救助: a share of the in-scope self-pay left after the pooled and critical-illness
    funds, by assistance category, up to an annual cap per person."""

    ratio: Mapping[AssistanceCategory, Decimal]
    annual_cap: Decimal


@dataclass(frozen=True)
class Policy:
    """The insured place's rules for one region, scheme and validity period."""

    insured_region: str
    scheme: InsuranceScheme
    valid_from: date
    valid_to: date
    deductible: Mapping[int, Decimal]
    ratio: Mapping[int, Decimal]
    annual_cap: Decimal
    class_b_self_pay_first: Decimal
    out_of_region: OutOfRegion
    version: str = ""
    name: str = ""
    class_b_source: ClassBSource = ClassBSource.CATALOGUE
    ratio_bands: Mapping[int, tuple[Band, ...]] = field(default_factory=dict)
    later_admission_deductible: Mapping[int, Decimal] = field(default_factory=dict)
    consortium_continuous_deductible: bool = False
    critical_illness: CriticalIllness | None = None
    personal_account: bool = False
    medical_assistance: MedicalAssistance | None = None
    # The adjusted bands per (level, filing, out of region), built on first use (ratio_bands).
    _bands: dict[tuple[int, Filing, bool], tuple[Band, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def covers(self, *, insured_region: str, scheme: InsuranceScheme, on_date: date) -> bool:
        """Whether this policy applies to the insured region, scheme and date."""
        return (
            insured_region.startswith(region_prefix(self.insured_region))
            and scheme == self.scheme
            and self.valid_from <= on_date <= self.valid_to
        )


@dataclass(frozen=True, slots=True)
class BillLine:
    """One item on a bill."""

    code: str
    qty: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class YearToDate:
    """The person's accumulators for the policy year before this bill."""

    hifp_pay: Decimal = ZERO
    admissions: int = 0
    hifmi_pay: Decimal = ZERO
    hifmi_base: Decimal = ZERO  # in-scope self-pay counted towards the critical-illness layer
    maf_pay: Decimal = ZERO  # what the medical-assistance fund paid this year


@dataclass(frozen=True)
class Bill:
    """An inpatient bill as the engine sees it."""

    insured_region: str
    scheme: InsuranceScheme
    filing: Filing
    institution_level: int
    treatment_region: str
    admission_date: date
    lines: Sequence[BillLine]
    year_to_date: YearToDate = YearToDate()
    # 医联体内转诊连续计算起付线: deductible already paid in this episode at the referring member.
    consortium_deductible_paid: Decimal = ZERO
    account_balance: Decimal = ZERO  # 个人账户余额 (employee scheme)
    assistance: AssistanceCategory = AssistanceCategory.NONE  # 医疗救助对象类别


class LineResult(NamedTuple):
    """How one bill line splits (a named tuple: the engine builds 50 per bill)."""

    code: str
    name: str
    item_class: ItemClass | None
    category: ItemCategory | None
    qty: Decimal
    unit_price: Decimal
    det_item_fee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    note: LineNote | None = None


@dataclass(frozen=True)
class Slip:
    """The settlement slip (national interface 2207 output names)."""

    medfee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    act_pay_dedc: Decimal
    hifp_pay: Decimal
    hifmi_pay: Decimal
    maf_pay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    lines: tuple[LineResult, ...]
    deductible_standard: Decimal
    ratio_applied: tuple[Band, ...]
    cap_remaining: Decimal
    hifmi_base: Decimal
    filing: Filing
    out_of_region: bool
    policy_version: str
    catalogue_version: str
    fund_region: str = ""  # the pooling region whose fund pays: the policy's insured region

    @property
    def not_in_catalogue(self) -> list[str]:
        """Codes the catalogue does not know: fully self-paid, listed, never dropped."""
        return [line.code for line in self.lines if line.note is LineNote.NOT_IN_CATALOGUE]


# ---------------------------------------------------------------- the rules, one per step

_CLASS_B, _CLASS_C = ItemClass.B, ItemClass.C
_NOT_IN_CATALOGUE = LineNote.NOT_IN_CATALOGUE


def to_fen(amount: Decimal) -> Decimal:
    """Round to the fen, half up."""
    return amount.quantize(FEN, ROUND_HALF_UP)


def region_prefix(code: str) -> str:
    """The significant digits of a GB/T 2260 code: 130000 → 13, 130700 → 1307."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def is_jing_jin_ji(region_code: str) -> bool:
    """Whether a region lies in Beijing, Tianjin or Hebei."""
    return region_code[:2] in JING_JIN_JI_PROVINCES


def class_c_self_paid(amount: Decimal, item: CatalogueItem | None) -> Decimal:
    """丙类 and items outside the catalogue are fully self-paid."""
    return amount if item is None or item.item_class is _CLASS_C else ZERO


def over_limit_self_pay(line: BillLine, item: CatalogueItem) -> Decimal:
    """The part of the unit price above the catalogue's price limit 超限价自付."""
    limit = item.price_limit
    if limit is None or line.unit_price <= limit:
        return ZERO
    return ((line.unit_price - limit) * line.qty).quantize(FEN, ROUND_HALF_UP)


def class_b_share(policy: Policy, item: CatalogueItem) -> Decimal:
    """The 乙类先行自付 share: the catalogue row's or the policy's, as the region decides."""
    if policy.class_b_source is ClassBSource.CATALOGUE and item.class_b_self_pay_first is not None:
        return item.class_b_self_pay_first
    return policy.class_b_self_pay_first


def class_b_self_pay_first(eligible: Decimal, item: CatalogueItem, policy: Policy) -> Decimal:
    """乙类先行自付: the class-B share of what is left after the over-limit part."""
    if item.item_class is not _CLASS_B:
        return ZERO
    return (eligible * class_b_share(policy, item)).quantize(FEN, ROUND_HALF_UP)


def item_rules(catalogue: Catalogue, policy: Policy) -> Mapping[str, ItemRule]:
    """Each catalogue item's rule under the policy's class-B share, computed once and kept."""
    key = (policy.class_b_source, policy.class_b_self_pay_first)
    rules = catalogue._rules.get(key)
    if rules is None:
        rules = {code: (item.name, item.item_class, item.category,
                        item.item_class is _CLASS_C, item.price_limit,
                        class_b_share(policy, item) if item.item_class is _CLASS_B else None)
                 for code, item in catalogue.items.items()}
        catalogue._rules[key] = rules
    return rules


def split_line(line: BillLine, item: CatalogueItem | None, policy: Policy) -> LineResult:
    """One line's split into self-paid, over-limit, self-pay-first and in-scope amounts."""
    amount = (line.qty * line.unit_price).quantize(FEN, ROUND_HALF_UP)
    if item is None:
        return LineResult(line.code, "", None, None, line.qty, line.unit_price, amount,
                          amount, ZERO, ZERO, ZERO, LineNote.NOT_IN_CATALOGUE)
    fully_self_paid = class_c_self_paid(amount, item)
    if fully_self_paid:
        return LineResult(line.code, item.name, item.item_class, item.category, line.qty,
                          line.unit_price, amount, fully_self_paid, ZERO, ZERO, ZERO)
    over_limit = ZERO if item.price_limit is None else min(over_limit_self_pay(line, item), amount)
    self_pay_first = (ZERO if item.item_class is not _CLASS_B
                      else class_b_self_pay_first(amount - over_limit, item, policy))
    return LineResult(line.code, item.name, item.item_class, item.category, line.qty,
                      line.unit_price, amount, ZERO, over_limit, self_pay_first,
                      amount - over_limit - self_pay_first)


Totals = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]


def split_lines(
    lines: Sequence[BillLine], rules: Mapping[str, ItemRule]
) -> tuple[tuple[LineResult, ...], Totals]:
    """Every line split as :func:`split_line` does, and the slip's five line totals.

    The same rules inlined for speed (a bill has many lines; the engine must settle
    ≥ 5,000 50-line bills a second): one rounding per amount, the item's rule read once
    per catalogue. ``tests/settlement/test_engine.py`` proves it equal to split_line.
    """
    quantize, new = Decimal.quantize, tuple.__new__
    results: list[LineResult] = []
    append = results.append
    medfee = fully_self_paid = over_limit = self_pay_first = in_scope = ZERO
    for line in lines:
        qty, price = line.qty, line.unit_price
        amount = quantize(qty * price, FEN, ROUND_HALF_UP)
        medfee += amount
        rule = rules.get(line.code)
        if rule is None:  # 目录外项目，全额自费
            fully_self_paid += amount
            append(new(LineResult, (line.code, "", None, None, qty, price, amount, amount,
                                    ZERO, ZERO, ZERO, _NOT_IN_CATALOGUE)))
            continue
        name, item_class, category, class_c, limit, share = rule
        if class_c and amount:  # 丙类
            fully_self_paid += amount
            append(new(LineResult, (line.code, name, item_class, category, qty, price, amount,
                                    amount, ZERO, ZERO, ZERO, None)))
            continue
        over = ZERO
        if limit is not None and price > limit:  # 超限价
            over = quantize((price - limit) * qty, FEN, ROUND_HALF_UP)
            if amount < over:  # never more than the line (min without a call)
                over = amount
            over_limit += over
        first = ZERO
        if share is not None:  # 乙类先行自付
            first = quantize((amount - over) * share, FEN, ROUND_HALF_UP)
            self_pay_first += first
        scope = amount - over - first
        in_scope += scope
        append(new(LineResult, (line.code, name, item_class, category, qty, price, amount,
                                ZERO, over, first, scope, None)))
    return tuple(results), (medfee, fully_self_paid, over_limit, self_pay_first, in_scope)


def deductible_standard(policy: Policy, bill: Bill) -> Decimal:
    """起付标准 for this admission: by level, lower for a later admission, less what a
    consortium referral already paid (医联体内转诊连续计算)."""
    level = bill.institution_level
    standard = policy.deductible[level]
    if bill.year_to_date.admissions >= 1 and level in policy.later_admission_deductible:
        standard = policy.later_admission_deductible[level]
    if policy.consortium_continuous_deductible and bill.filing is Filing.REFERRAL:
        standard = max(ZERO, standard - bill.consortium_deductible_paid)
    return standard


def apply_deductible(in_scope: Decimal, standard: Decimal) -> Decimal:
    """The deductible applied: the standard, or all of the in-scope cost when it is less."""
    return to_fen(max(ZERO, min(standard, in_scope)))


def is_out_of_region(policy: Policy, bill: Bill) -> bool:
    """Treated outside the region the policy insures."""
    return not bill.treatment_region.startswith(region_prefix(policy.insured_region))


def adjusted_ratio(ratio: Decimal, policy: Policy, filing: Filing, out_of_region: bool) -> Decimal:
    """The ratio after the out-of-region cut: points (ratio − cut) or multiplier (ratio × m)."""
    if not out_of_region:
        return ratio
    rule = policy.out_of_region
    if rule.mode is CutMode.POINTS:
        return max(ZERO, ratio - rule.adjustment.get(filing, ZERO))
    return ratio * rule.adjustment.get(filing, ONE)


def ratio_bands(policy: Policy, bill: Bill) -> tuple[Band, ...]:
    """The (adjusted) bands paid on the in-scope cost above the deductible: 分段 or one ratio."""
    level, out = bill.institution_level, is_out_of_region(policy, bill)
    key = (level, bill.filing, out)
    found = policy._bands.get(key)
    if found is None:
        bands = policy.ratio_bands.get(level) or (Band(None, policy.ratio[level]),)
        found = tuple(Band(band.up_to, adjusted_ratio(band.ratio, policy, bill.filing, out))
                      for band in bands)
        policy._bands[key] = found
    return found


def apply_ratio(above_deductible: Decimal, bands: Sequence[Band]) -> Decimal:
    """The pooled fund's share of the amount above the deductible, band by band."""
    paid, lower = ZERO, ZERO
    for band in bands:
        upper = above_deductible if band.up_to is None else min(band.up_to, above_deductible)
        if upper > lower:
            paid += (upper - lower) * band.ratio
            lower = upper
    return to_fen(paid)


def cap_by_annual_limit(fund_pay: Decimal, cap: Decimal, paid_this_year: Decimal) -> Decimal:
    """最高支付限额: the fund pays at most what is left of the annual cap."""
    return to_fen(max(ZERO, min(fund_pay, cap - paid_this_year)))


def critical_illness_layer(
    layer: CriticalIllness | None, self_pay: Decimal, year_to_date: YearToDate
) -> Decimal:
    """大病保险: bands on the year's in-scope self-pay above the threshold, up to the layer cap."""
    if layer is None or self_pay <= 0:
        return ZERO
    start = max(year_to_date.hifmi_base, layer.threshold)
    end = year_to_date.hifmi_base + self_pay
    paid, lower = ZERO, layer.threshold
    for band in layer.bands:
        upper = end if band.up_to is None else min(band.up_to, end)
        segment_from = max(lower, start)
        if upper > segment_from:
            paid += (upper - segment_from) * band.ratio
        lower = max(lower, upper)
    return cap_by_annual_limit(to_fen(paid), layer.cap, year_to_date.hifmi_pay)


def medical_assistance_pay(
    rule: MedicalAssistance | None, category: AssistanceCategory, in_scope_self_pay: Decimal,
    paid_this_year: Decimal,
) -> Decimal:
    """医疗救助: the category's share of the in-scope self-pay left after the pooled and
    critical-illness funds, up to what is left of the assistance fund's annual cap."""
    if rule is None or in_scope_self_pay <= 0:
        return ZERO
    share = rule.ratio.get(category)
    if share is None:
        return ZERO
    return cap_by_annual_limit(to_fen(in_scope_self_pay * share), rule.annual_cap,
                               paid_this_year)


def personal_account_pay(policy: Policy, bill: Bill, patient_share: Decimal) -> Decimal:
    """个人账户支付: an employee's account pays the patient's share as far as its balance goes."""
    if not policy.personal_account or bill.scheme is not InsuranceScheme.EMPLOYEE:
        return ZERO
    return to_fen(max(ZERO, min(bill.account_balance, patient_share)))


def settle(*, policy: Policy, catalogue: Catalogue, bill: Bill) -> Slip:
    """Settle a bill under the insured place's policy and the treatment place's catalogue."""
    lines, (medfee, fully_self_paid, over_limit, self_pay_first, in_scope) = split_lines(
        bill.lines, item_rules(catalogue, policy))

    standard = deductible_standard(policy, bill)
    deductible = apply_deductible(in_scope, standard)
    bands = ratio_bands(policy, bill)
    ytd = bill.year_to_date
    cap_remaining = to_fen(max(ZERO, policy.annual_cap - ytd.hifp_pay))
    pooled = cap_by_annual_limit(apply_ratio(in_scope - deductible, bands),
                                 policy.annual_cap, ytd.hifp_pay)
    in_scope_self_pay = in_scope - pooled
    critical = min(critical_illness_layer(policy.critical_illness, in_scope_self_pay, ytd),
                   in_scope_self_pay)
    assistance = medical_assistance_pay(policy.medical_assistance, bill.assistance,
                                        in_scope_self_pay - critical, ytd.maf_pay)
    fund = pooled + critical + assistance
    patient_share = medfee - fund
    account = personal_account_pay(policy, bill, patient_share)
    return Slip(
        medfee_sumamt=medfee,
        fulamt_ownpay_amt=fully_self_paid,
        overlmt_selfpay=over_limit,
        preselfpay_amt=self_pay_first,
        inscp_scp_amt=in_scope,
        act_pay_dedc=deductible,
        hifp_pay=pooled,
        hifmi_pay=critical,
        maf_pay=assistance,
        fund_pay_sumamt=fund,
        psn_part_amt=patient_share,
        acct_pay=account,
        psn_cash_pay=patient_share - account,
        lines=lines,
        deductible_standard=to_fen(standard),
        ratio_applied=bands,
        cap_remaining=cap_remaining,
        hifmi_base=in_scope_self_pay,
        filing=bill.filing,
        out_of_region=is_out_of_region(policy, bill),
        policy_version=policy.version,
        catalogue_version=catalogue.version,
        fund_region=policy.insured_region,
    )
