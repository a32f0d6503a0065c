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


EVENT_NAMES: Final[dict[str, tuple[str, str]]] = {
    "created": ("提交申请", "requested"),
    "accept": ("受理并分配专家", "accepted, experts assigned"),
    "decline": ("拒绝", "declined"),
    "schedule": ("排期", "scheduled"),
    "start": ("开始会诊", "session started"),
    "joined": ("进入会诊室", "joined the session"),
    "attendance": ("登记专家出席", "recorded the experts' attendance"),
    "signed": ("签署报告", "signed the report"),
    "sign_off": ("全部专家已签署", "signed by every expert"),
    "amended": ("追加补充说明", "amended the report"),
    "referred": ("据报告发起转诊", "started a referral"),
    "document": ("上传资料", "attached a document"),
    "escalated": ("超时升级", "escalated, overdue"),
    "close": ("结束", "closed"),
    "cancel": ("撤销", "cancelled"),
}


def event_name(action: str, language: str) -> str:
    """A timeline entry's name in the language."""
    names = EVENT_NAMES.get(action)
    if names is None:
        return action
    return names[1] if language == "en" else names[0]
