"""Display names of settlement's enums (Chinese, English), and the slip's field names.

Looked up by enum class and value (like patients/labels.py): equal string values of
different enums (``SettlementStatus.SETTLED == SettlementEventKind.SETTLED``) stay apart.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from yilian.patients.labels import INSURANCE_SCHEMES
from yilian.portal.pages import gettext
from yilian.settlement.engine import (
    AssistanceCategory,
    ClassBSource,
    CutMode,
    Filing,
    ItemCategory,
    ItemClass,
)
from yilian.settlement.models import (
    PaymentMethod,
    ReversalReason,
    SettlementEventKind,
    SettlementStatus,
)

FILINGS: Final[Mapping[Filing, tuple[str, str]]] = {
    Filing.FILED: ("已备案", "Filed"),
    Filing.REFERRAL: ("转诊备案", "Referral"),
    Filing.EMERGENCY: ("急诊抢救", "Emergency"),
    Filing.NONE: ("未备案", "Not filed"),
}
ASSISTANCE_CATEGORIES: Final[Mapping[AssistanceCategory, tuple[str, str]]] = {
    AssistanceCategory.NONE: ("非救助对象", "Not an assistance recipient"),
    AssistanceCategory.EXTREME_POVERTY: ("特困供养人员", "Extreme-poverty support"),
    AssistanceCategory.SUBSISTENCE: ("低保对象", "Subsistence allowance (dibao)"),
}
ITEM_CLASSES: Final[Mapping[ItemClass, tuple[str, str]]] = {
    ItemClass.A: ("甲类", "Class A"),
    ItemClass.B: ("乙类", "Class B"),
    ItemClass.C: ("丙类", "Class C"),
}
ITEM_CATEGORIES: Final[Mapping[ItemCategory, tuple[str, str]]] = {
    ItemCategory.DRUG: ("药品", "Drug"),
    ItemCategory.SERVICE: ("诊疗项目", "Service"),
    ItemCategory.MATERIAL: ("医用耗材", "Material"),
}
CUT_MODES: Final[Mapping[CutMode, tuple[str, str]]] = {
    CutMode.POINTS: ("降低百分点", "Points"),
    CutMode.MULTIPLIER: ("按比例折算", "Multiplier"),
}
CLASS_B_SOURCES: Final[Mapping[ClassBSource, tuple[str, str]]] = {
    ClassBSource.CATALOGUE: ("按就医地目录", "From the catalogue"),
    ClassBSource.POLICY: ("按参保地政策", "From the policy"),
}
SETTLEMENT_STATUSES: Final[Mapping[SettlementStatus, tuple[str, str]]] = {
    SettlementStatus.SETTLED: ("已结算", "Settled"),
    SettlementStatus.REVERSED: ("已冲正", "Reversed"),
}
EVENT_KINDS: Final[Mapping[SettlementEventKind, tuple[str, str]]] = {
    SettlementEventKind.SETTLED: ("结算", "Settled"),
    SettlementEventKind.REVERSED: ("冲正", "Reversed"),
    SettlementEventKind.PAID: ("缴费", "Paid"),
}
REVERSAL_REASONS: Final[Mapping[ReversalReason, tuple[str, str]]] = {
    ReversalReason.BILLING_ERROR: ("费用明细有误", "Billing error"),
    ReversalReason.WRONG_PATIENT: ("患者身份有误", "Wrong patient"),
    ReversalReason.WRONG_FILING: ("备案状态有误", "Wrong filing status"),
    ReversalReason.DISCHARGE_CANCELLED: ("取消出院", "Discharge cancelled"),
    ReversalReason.OTHER: ("其他", "Other"),
}
PAYMENT_METHODS: Final[Mapping[PaymentMethod, tuple[str, str]]] = {
    PaymentMethod.SELF_SERVICE: ("自助缴费", "Self-service payment"),
    PaymentMethod.CASHIER: ("窗口缴费", "At the cashier"),
}

ALL_LABELS: Final[tuple[Mapping[Any, tuple[str, str]], ...]] = (
    FILINGS, ASSISTANCE_CATEGORIES, ITEM_CLASSES, ITEM_CATEGORIES, CUT_MODES, CLASS_B_SOURCES,
    SETTLEMENT_STATUSES, EVENT_KINDS, REVERSAL_REASONS, PAYMENT_METHODS, INSURANCE_SCHEMES,
)

# The slip's fields (national interface names) as a clerk reads them.
SLIP_FIELDS: Final[Mapping[str, tuple[str, str]]] = {
    "medfee_sumamt": ("医疗费总额", "Total medical cost"),
    "fulamt_ownpay_amt": ("全自费金额", "Fully self-paid (class C)"),
    "overlmt_selfpay": ("超限价自付金额", "Above the price limit"),
    "preselfpay_amt": ("先行自付金额", "Class-B self-pay-first"),
    "inscp_scp_amt": ("符合政策范围金额", "In-scope amount"),
    "act_pay_dedc": ("实际支付起付线", "Deductible applied"),
    "hifp_pay": ("统筹基金支出", "Pooled fund"),
    "hifmi_pay": ("大病保险支出", "Critical-illness insurance"),
    "maf_pay": ("医疗救助基金支出", "Medical assistance fund"),
    "fund_pay_sumamt": ("基金支付总额", "All funds"),
    "psn_part_amt": ("个人负担总金额", "Patient's share"),
    "acct_pay": ("个人账户支出", "Personal account"),
    "psn_cash_pay": ("个人现金支出", "Cash to pay"),
}

_NAMES: Final[dict[tuple[type, str], tuple[str, str]]] = {
    (type(member), member.value): names for table in ALL_LABELS for member, names in table.items()
}


def name_of(member: enum.Enum | None, language: str) -> str:
    """The display name of a settlement enum member in the reader's language."""
    if member is None:
        return ""
    names = _NAMES.get((type(member), member.value))
    if names is None:
        return str(member.value)
    return names[1] if language == "en" else names[0]


def value_name(enum_type: type[enum.Enum], value: str | None, language: str) -> str:
    """The display name of a stored enum value (slips keep plain strings)."""
    if not value:
        return ""
    try:
        return name_of(enum_type(value), language)
    except ValueError:
        return value


def field_name(field: str, language: str) -> str:
    """A slip field's name: Chinese (the interface name in English pages)."""
    zh, en = SLIP_FIELDS.get(field, (field, field))
    return en if language == "en" else zh


def yuan(value: Any) -> str:
    """An amount as the slip prints it: thousands separated, two decimals."""
    return f"{Decimal(str(value)):,.2f}"


def template_helpers(language: str) -> dict[str, Callable[..., str]]:
    """The settlement pages' display functions, in the reader's language."""
    return {
        "name_of": lambda member: name_of(member, language),
        "filing_name": lambda value: value_name(Filing, value, language),
        "class_name": lambda value: value_name(ItemClass, value, language),
        "field_name": lambda field: field_name(field, language),
        "yuan": yuan,
    }


__all__ = ["ALL_LABELS", "SLIP_FIELDS", "gettext", "name_of", "template_helpers"]
