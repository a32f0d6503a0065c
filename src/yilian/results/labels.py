"""Display names of the results enums, looked up by enum class and value (see
``patients.labels`` for why they are not registered in the shared label table)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final

from yilian.results.models import (
    AbnormalFlag,
    Decision,
    HrScope,
    ItemCategory,
    Refusal,
    ReportStatus,
    RetestReason,
)

ALL_LABELS: Final[tuple[Mapping[enum.Enum, tuple[str, str]], ...]] = (
    {ItemCategory.LAB: ("检验", "Lab"), ItemCategory.EXAM: ("检查", "Exam")},
    {
        HrScope.NATIONAL: ("全国HR", "National HR"),
        HrScope.PROVINCE: ("本省HR", "Provincial HR"),
        HrScope.CITY: ("市HR", "City HR"),
        HrScope.CONSORTIUM: ("医联体HR", "Consortium HR"),
    },
    {
        ReportStatus.FINAL: ("已审核", "Final"),
        ReportStatus.CORRECTED: ("更正", "Corrected"),
        ReportStatus.ENTERED_IN_ERROR: ("录入错误", "Entered in error"),
    },
    {
        AbnormalFlag.NORMAL: ("正常", "Normal"),
        AbnormalFlag.LOW: ("偏低", "Low"),
        AbnormalFlag.HIGH: ("偏高", "High"),
        AbnormalFlag.CRITICAL_LOW: ("危急低值", "Critically low"),
        AbnormalFlag.CRITICAL_HIGH: ("危急高值", "Critically high"),
        AbnormalFlag.ABNORMAL: ("异常", "Abnormal"),
    },
    {
        Refusal.NONE_HELD: ("无可用结果", "None held"),
        Refusal.EXPIRED: ("已过期", "Expired"),
        Refusal.NOT_QUALIFIED: ("执行机构无资质", "Performer not qualified"),
        Refusal.SCOPE: ("范围不覆盖", "Scope does not cover"),
        Refusal.SUPERSEDED: ("已被更正", "Superseded"),
        Refusal.NOT_FINAL: ("录入错误", "Entered in error"),
        Refusal.CONCLUSION_ONLY: ("仅有结论", "Conclusion only"),
    },
    {Decision.ACCEPTED: ("已互认", "Recognised"), Decision.RETEST: ("复查", "Re-test")},
    {
        RetestReason.CONDITION_CHANGED: ("病情变化或结果与临床不符",
                                         "Condition changed or result does not fit"),
        RetestReason.FAST_CHANGING: ("指标随病程变化快", "Value changes fast with the disease"),
        RetestReason.CRITICAL_CARE: ("对诊疗关键（术前、输血前等）",
                                     "Critical for care (before surgery, transfusion)"),
        RetestReason.EMERGENCY: ("急诊急救", "Emergency"),
        RetestReason.APPRAISAL: ("司法或伤残鉴定", "Judicial or disability appraisal"),
        RetestReason.OTHER: ("其他（须说明）", "Other (explain)"),
    },
)

_NAMES: Final[dict[tuple[type, object], tuple[str, str]]] = {
    (type(member), member.value): names for table in ALL_LABELS for member, names in table.items()
}


def name_of(member: enum.Enum | None, language: str) -> str:
    """The display name of a results enum member in the reader's language."""
    if member is None:
        return ""
    names = _NAMES.get((type(member), member.value))
    if names is None:
        return str(member.value)
    return names[1] if language == "en" else names[0]


def template_helpers(language: str) -> dict[str, Callable[..., str]]:
    """The results pages' display functions, in the reader's language."""
    return {"result_name": lambda member: name_of(member, language)}
