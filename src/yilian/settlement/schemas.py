"""API and file shapes of settlement: the bill JSON, slips, settlements, coverage, clearing."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from yilian.patients.models import InsuranceScheme
from yilian.schemas import ReadModel, WriteModel
from yilian.settlement.engine import (
    AssistanceCategory,
    Bill,
    BillLine,
    Filing,
    Slip,
    YearToDate,
)
from yilian.settlement.models import (
    PaymentMethod,
    ReversalReason,
    SettlementStatus,
)


def _exact(value: Any) -> Any:
    """A JSON number becomes the Decimal of its shortest text, so 33.33 equals "33.33"."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


Amount = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, max_digits=14, decimal_places=4)]
Quantity = Annotated[Decimal, BeforeValidator(_exact), Field(gt=0, max_digits=12, decimal_places=4)]
SLIP_FIELDS = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
    "act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt",
    "acct_pay", "psn_cash_pay",
)


class BillLineIn(WriteModel):
    """A bill line: catalogue code, quantity, unit price in yuan."""

    code: Annotated[str, Field(min_length=1, max_length=64)]
    qty: Quantity
    unit_price: Amount


class YearToDateIn(WriteModel):
    """The person's accumulators before this bill (CLI simulation only)."""

    hifp_pay: Amount = Decimal(0)
    admissions: Annotated[int, Field(ge=0)] = 0
    hifmi_pay: Amount = Decimal(0)
    hifmi_base: Amount = Decimal(0)
    maf_pay: Amount = Decimal(0)


class BillFile(WriteModel):
    """The bill JSON ``yilian settlement simulate`` reads."""

    insured_region: Annotated[str, Field(pattern=r"^\d{6}$")]
    scheme: InsuranceScheme
    filing: Filing
    institution_level: Annotated[int, Field(ge=1, le=3)]
    treatment_region: Annotated[str, Field(pattern=r"^\d{6}$")]
    admission_date: date
    year_to_date: YearToDateIn = YearToDateIn()
    consortium_deductible_paid: Amount = Decimal(0)
    account_balance: Amount = Decimal(0)
    assistance: AssistanceCategory = AssistanceCategory.NONE
    lines: Annotated[list[BillLineIn], Field(min_length=1, max_length=2000)]

    def to_bill(self) -> Bill:
        """The engine's form of the bill."""
        ytd = self.year_to_date
        return Bill(
            insured_region=self.insured_region,
            scheme=self.scheme,
            filing=self.filing,
            institution_level=self.institution_level,
            treatment_region=self.treatment_region,
            admission_date=self.admission_date,
            lines=engine_lines(self.lines),
            year_to_date=YearToDate(ytd.hifp_pay, ytd.admissions, ytd.hifmi_pay, ytd.hifmi_base,
                                    ytd.maf_pay),
            consortium_deductible_paid=self.consortium_deductible_paid,
            account_balance=self.account_balance,
            assistance=self.assistance,
        )


def engine_lines(lines: list[BillLineIn]) -> tuple[BillLine, ...]:
    """Bill lines in the engine's form."""
    return tuple(BillLine(line.code, line.qty, line.unit_price) for line in lines)


def _text(value: Decimal) -> str:
    return format(value, "f")


def _given(value: Decimal, places: int) -> str:
    """A quantity or price as given, written one way however it was typed (60, 60.0, "60.00")."""
    shown = value.normalize()
    if -shown.as_tuple().exponent < places:  # type: ignore[operator]
        shown = shown.quantize(Decimal(1).scaleb(-places))
    return format(shown, "f")


def slip_json(slip: Slip) -> dict[str, Any]:
    """A slip as JSON: every amount a decimal string to the fen, with per-line detail."""
    shown: dict[str, Any] = {name: _text(getattr(slip, name)) for name in SLIP_FIELDS}
    shown.update(
        deductible_standard=_text(slip.deductible_standard),
        ratio_applied=[{"up_to": None if b.up_to is None else _text(b.up_to),
                        "ratio": _text(b.ratio)} for b in slip.ratio_applied],
        cap_remaining=_text(slip.cap_remaining),
        hifmi_base=_text(slip.hifmi_base),
        filing=slip.filing.value,
        out_of_region=slip.out_of_region,
        policy_version=slip.policy_version,
        catalogue_version=slip.catalogue_version,
        fund_region=slip.fund_region,
        not_in_catalogue=slip.not_in_catalogue,
        lines=[
            {
                "code": line.code,
                "name": line.name,
                "class": line.item_class.value if line.item_class else None,
                "category": line.category.value if line.category else None,
                "qty": _given(line.qty, 0),
                "unit_price": _given(line.unit_price, 2),
                "det_item_fee_sumamt": _text(line.det_item_fee_sumamt),
                "fulamt_ownpay_amt": _text(line.fulamt_ownpay_amt),
                "overlmt_selfpay": _text(line.overlmt_selfpay),
                "preselfpay_amt": _text(line.preselfpay_amt),
                "inscp_scp_amt": _text(line.inscp_scp_amt),
                "note": line.note.value if line.note else None,
            }
            for line in slip.lines
        ],
    )
    return shown


class SettleRequest(WriteModel):
    """Settle an inpatient bill at discharge (interface 2207)."""

    idempotency_key: Annotated[str, Field(min_length=8, max_length=64)]
    person_id: int
    institution_id: int
    admission_date: date
    discharge_date: date
    lines: Annotated[list[BillLineIn], Field(min_length=1, max_length=2000)]
    filing: Filing | None = None
    consortium_deductible_paid: Amount = Decimal(0)
    # 2207 dise_codg: the discharge diagnosis (ICD-10); the advisor's typical bills group by it.
    dise_codg: Annotated[str | None, Field(pattern=r"^[A-Z]\d{2}(\.\w{1,4})?$",
                                           max_length=16)] = None


class EstimateRequest(WriteModel):
    """A planned bill to estimate (FHIR Claim use = predetermination); nothing is stored."""

    person_id: int
    institution_id: int
    on_date: date
    lines: Annotated[list[BillLineIn], Field(min_length=1, max_length=2000)]
    filing: Filing | None = None


class ReverseRequest(WriteModel):
    """Reverse a settlement (冲正, interface 2208)."""

    reason: ReversalReason
    note: Annotated[str, Field(max_length=500)] = ""


class SettlementRead(ReadModel):
    """A settlement and its slip."""

    id: int
    idempotency_key: str
    person_id: int
    institution_id: int
    status: SettlementStatus
    insured_region_code: str
    scheme: InsuranceScheme
    filing: Filing
    admission_date: date
    discharge_date: date
    policy_version: str
    catalogue_version: str
    fund_region_code: str
    settled_at: datetime
    settled_by: str
    reversed_at: datetime | None = None
    reversal_reason: ReversalReason | None = None
    reversed_month: str | None = None
    paid_at: datetime | None = None
    slip: dict[str, Any]


class EstimateRead(ReadModel):
    """An estimate's slip."""

    slip: dict[str, Any]


class CoverageRead(ReadModel):
    """A person's insurance as the settlement engine uses it."""

    person_id: int
    insured_region_code: str
    scheme: InsuranceScheme
    card_number: str
    filing: Filing
    effective_filing: Filing
    assistance: AssistanceCategory = AssistanceCategory.NONE


class CoverageWrite(WriteModel):
    """A person's insurance card and out-of-region filing, as a clerk records them."""

    insured_region_code: Annotated[str, Field(pattern=r"^\d{6}$")]
    scheme: InsuranceScheme
    card_number: Annotated[str, Field(max_length=32)] = ""
    filing: Filing = Filing.NONE
    filed_region_code: Annotated[str, Field(pattern=r"^(\d{6})?$")] = ""
    assistance: AssistanceCategory = AssistanceCategory.NONE  # 医疗救助对象类别


class PaymentCreate(WriteModel):
    """The patient pays their cash share (自助缴费)."""

    method: PaymentMethod = PaymentMethod.SELF_SERVICE


class PaymentRead(ReadModel):
    """A receipt."""

    id: int
    settlement_id: int
    receipt_no: str
    amount: Decimal
    method: PaymentMethod
    paid_at: datetime
    paid_by: str


class RefundCreate(WriteModel):
    """Refund the patient's payment of a reversed settlement (退费)."""

    method: PaymentMethod = PaymentMethod.CASHIER
    note: Annotated[str, Field(max_length=500)] = ""


class RefundRead(ReadModel):
    """A refund, against the receipt it gives back."""

    id: int
    settlement_id: int
    payment_id: int
    refund_no: str
    amount: Decimal
    method: PaymentMethod
    note: str
    refunded_at: datetime
    refunded_by: str


class ClearingLine(enum.StrEnum):
    """A line of the clearing report."""

    SETTLEMENTS = "settlements"  # 本月结算
    ADJUSTMENT = "adjustment"  # 冲正调整: this month's reversal of an earlier month's settlement


class ClearingRow(ReadModel):
    """What one fund owes one treatment institution for a month, or (an adjustment line, all
    amounts and the count negative) what it takes back of an earlier month."""

    fund_region_code: str
    month: str
    institution_id: int
    institution_code: str
    institution_name: str
    line: ClearingLine = ClearingLine.SETTLEMENTS
    adjusts_month: str | None = None  # the earlier month an adjustment line corrects
    settlements: int
    medfee_sumamt: Decimal
    hifp_pay: Decimal
    hifmi_pay: Decimal
    maf_pay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
