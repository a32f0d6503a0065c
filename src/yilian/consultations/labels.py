"""Display names of the consultation enums, Chinese and English (kept apart from the shared
label table: a StrEnum value like ``requested`` means another thing for a referral)."""

from __future__ import annotations

import enum
from typing import Final

from yilian.consultations.models import ConsultationKind, ConsultationStatus
from yilian.consultations.states import STATUS_NAMES
from yilian.referrals.models import Urgency

NAMES: Final[dict[tuple[type, str], tuple[str, str]]] = {
    **{(ConsultationStatus, s.value): names for s, names in STATUS_NAMES.items()},
    (ConsultationKind, "single"): ("单科会诊", "Single-specialty"),
    (ConsultationKind, "mdt"): ("多学科会诊（MDT）", "Multi-disciplinary (MDT)"),
    (ConsultationKind, "ward_round"): ("远程查房", "Online ward round"),
    (ConsultationKind, "case_discussion"): ("病例讨论", "Case discussion"),
    (ConsultationKind, "teaching"): ("教学查房", "Teaching round"),
    (Urgency, "routine"): ("普通", "Routine"),
    (Urgency, "urgent"): ("加急", "Urgent"),
    (Urgency, "emergency"): ("急会诊", "Emergency"),
}


def name_of(member: enum.Enum, language: str) -> str:
    """The member's display name in the language."""
    names = NAMES.get((type(member), str(member.value)))
    if names is None:
        return str(member.value)
    return names[1] if language == "en" else names[0]
