"""Display names of the referral enums, Chinese and English (looked up by enum and value,
as patients/labels.py does, because equal string values of different enums collide)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from yilian.referrals.models import (
    ClockPoint,
    Direction,
    EventKind,
    ReferralKind,
    TaskStatus,
    Urgency,
)

DIRECTIONS: Final = {
    Direction.UP: ("上转", "Up"),
    Direction.DOWN: ("下转", "Down"),
    Direction.LATERAL: ("平转", "Lateral"),
}
KINDS: Final = {
    ReferralKind.OUTPATIENT: ("门诊", "Outpatient"),
    ReferralKind.INPATIENT: ("住院", "Inpatient"),
    ReferralKind.EXAMINATION: ("检查", "Examination"),
    ReferralKind.REHABILITATION: ("康复", "Rehabilitation"),
    ReferralKind.FOLLOW_UP: ("随访", "Follow-up"),
}
URGENCIES: Final = {
    Urgency.ROUTINE: ("普通", "Routine"),
    Urgency.URGENT: ("加急", "Urgent"),
    Urgency.EMERGENCY: ("急诊", "Emergency"),
}
STATUSES: Final = {
    TaskStatus.DRAFT: ("草稿", "Draft"),
    TaskStatus.REQUESTED: ("待接收", "Requested"),
    TaskStatus.RECEIVED: ("已接收", "Received"),
    TaskStatus.ACCEPTED: ("已同意", "Accepted"),
    TaskStatus.REJECTED: ("已拒绝", "Declined"),
    TaskStatus.READY: ("已预约", "Booked"),
    TaskStatus.IN_PROGRESS: ("已到院", "Arrived"),
    TaskStatus.COMPLETED: ("已完成", "Completed"),
    TaskStatus.CANCELLED: ("已撤销", "Cancelled"),
    TaskStatus.FAILED: ("未完成", "Failed"),
}
EVENT_KINDS: Final = {
    EventKind.CREATED: ("发起转诊", "Referral made"),
    EventKind.TRANSITION: ("状态变更", "Status changed"),
    EventKind.NOTE: ("备注", "Note"),
    EventKind.ADVICE: ("专家建议", "Advice"),
    EventKind.ESCALATED: ("超时升级", "Escalated"),
    EventKind.DOCUMENT: ("上传病历", "Document attached"),
    EventKind.CLOCK: ("时间节点", "Clock time"),
}
CLOCK_POINTS: Final = {
    ClockPoint.ONSET: ("发病", "Symptom onset"),
    ClockPoint.FIRST_CONTACT: ("首次医疗接触", "First medical contact"),
    ClockPoint.DOOR: ("到达医院", "Door"),
    ClockPoint.ECG: ("首份心电图", "First ECG"),
    ClockPoint.CT: ("头颅 CT", "Head CT"),
    ClockPoint.NEEDLE: ("溶栓开始", "Needle (thrombolysis)"),
    ClockPoint.BALLOON: ("球囊扩张", "Balloon"),
}


def _actions() -> Mapping[Any, tuple[str, str]]:
    from yilian.referrals.states import ReferralAction as A
    from yilian.referrals.states import Side

    return {
        A.SUBMIT: ("提交", "Submitted"),
        A.RECEIVE: ("接收", "Received"),
        A.ACCEPT: ("同意", "Accepted"),
        A.REJECT: ("拒绝", "Declined"),
        A.ADVISE: ("给出建议", "Answered with advice"),
        A.BOOK: ("预约/安排床位", "Booked"),
        A.ARRIVE: ("到院/入院", "Arrived"),
        A.COMPLETE: ("完成并回传", "Completed"),
        A.CANCEL: ("撤销", "Cancelled"),
        A.FAIL: ("标记未完成", "Marked failed"),
        Side.REFERRER: ("转出方", "Referrer"),
        Side.RECEIVER: ("接收方", "Receiver"),
    }


ALL_LABELS: Final[tuple[Mapping[Any, tuple[str, str]], ...]] = (
    DIRECTIONS, KINDS, URGENCIES, STATUSES, EVENT_KINDS, CLOCK_POINTS,
)
_NAMES: dict[tuple[type, str], tuple[str, str]] = {}


def _names() -> dict[tuple[type, str], tuple[str, str]]:
    if not _NAMES:
        for table in (*ALL_LABELS, _actions()):
            for member, names in table.items():
                _NAMES[(type(member), member.value)] = names
    return _NAMES


def name_of(member: enum.Enum | None, language: str) -> str:
    """The display name of a referral enum member in the reader's language."""
    if member is None:
        return ""
    names = _names().get((type(member), member.value))
    if names is None:
        return str(member.value)
    return names[1] if language == "en" else names[0]
