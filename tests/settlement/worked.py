"""A small policy and catalogue in the issue's own format, shared by the settlement tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from yilian.patients.models import InsuranceScheme
from yilian.settlement.catalogue import parse_catalogue
from yilian.settlement.engine import Bill, BillLine, Filing, YearToDate
from yilian.settlement.policy import parse_policy

POLICY_YAML = """\
insured_region: "130730"          # GB/T 2260 code
scheme: resident                  # resident | employee
valid_from: 2024-01-01
valid_to: 2024-12-31
deductible: {1: 200, 2: 500, 3: 1000}    # yuan per admission, by institution level
ratio: {1: 0.90, 2: 0.80, 3: 0.65}       # share of in-scope cost above the deductible
annual_cap: 150000                        # yuan of pooled-fund payment per person-year
class_b_self_pay_first: 0.10              # 乙类先行自付 share; a catalogue row may override
out_of_region:                            # how an unfiled or temporary patient's ratio drops
  mode: points                            # points (ratio − cut) | multiplier (ratio × m)
  cut: {filed: 0, referral: 0.10, emergency: 0.10, none: 0.20}
"""

MULTIPLIER = """
  mode: multiplier
  multiplier: {filed: 1, referral: 0.90, emergency: 1, none: 0.80}
"""

CATALOGUE_CSV = """\
code,name,category,class,class_b_self_pay_first,price_limit
A001,甲类药,drug,A,,
B001,乙类诊疗,service,B,,
B002,乙类耗材,material,B,0.30,
C001,丙类药,drug,C,,
L001,限价甲类药,drug,A,,10.00
LB01,限价乙类药,drug,B,0.20,50.00
"""

POLICY = parse_policy(POLICY_YAML, source="test_policy.yaml")
CATALOGUE = parse_catalogue(CATALOGUE_CSV, source="test_catalogue.csv", region_code="130000")


def policy_with(extra: str = "", *, multiplier: bool = False) -> str:
    """The test policy's YAML with extra keys, or with the multiplier rule instead of points."""
    text = POLICY_YAML
    if multiplier:
        head, _, _ = text.partition("  mode: points")
        text = head.rstrip() + MULTIPLIER
    return text + extra


def bill(
    *lines: tuple[str, str, str],
    level: int = 2,
    filing: Filing = Filing.FILED,
    treatment_region: str = "130730",
    year_to_date: YearToDate | None = None,
    **more: object,
) -> Bill:
    """A Huailai resident's bill of (code, qty, unit price) lines."""
    return Bill(
        insured_region="130730",
        scheme=InsuranceScheme.RESIDENT,
        filing=filing,
        institution_level=level,
        treatment_region=treatment_region,
        admission_date=date(2024, 6, 1),
        lines=tuple(BillLine(code, Decimal(qty), Decimal(price)) for code, qty, price in lines),
        year_to_date=year_to_date or YearToDate(),
        **more,  # type: ignore[arg-type]
    )
