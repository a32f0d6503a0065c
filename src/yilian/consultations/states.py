"""The consultation workflow in one table: which action moves a consultation from which
states to which, and which side may take it. Every status change goes through
:func:`next_status`; nothing else decides whether a transition is legal.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from yilian.consultations.models import ConsultationStatus
from yilian.errors import Conflict


class Side(enum.StrEnum):
    """Who in a consultation may take an action."""

    REQUESTER = "requester"  # 申请方
    COORDINATOR = "coordinator"  # 受邀方会诊管理员
    EXPERT = "expert"  # 受邀专家


class ConsultationAction(enum.StrEnum):
    """A step of the workflow (the POST actions of the API)."""

    ACCEPT = "accept"  # 受理并分配专家
    DECLINE = "decline"  # 拒绝
    SCHEDULE = "schedule"  # 排期（可改期）
    START = "start"  # 开始会诊
    SIGN_OFF = "sign_off"  # 全部专家签署报告
    CLOSE = "close"  # 结束
    CANCEL = "cancel"  # 撤销


@dataclass(frozen=True)
class Transition:
    """Where an action may start, where it leads, and who may take it."""

    sources: frozenset[ConsultationStatus]
    target: ConsultationStatus
    sides: frozenset[Side]


S = ConsultationStatus
TRANSITIONS: Final[Mapping[ConsultationAction, Transition]] = {
    ConsultationAction.ACCEPT: Transition(frozenset({S.REQUESTED}), S.ACCEPTED,
                                          frozenset({Side.COORDINATOR})),
    ConsultationAction.DECLINE: Transition(frozenset({S.REQUESTED}), S.DECLINED,
                                           frozenset({Side.COORDINATOR})),
    # Scheduling again before the session starts is a change of time.
    ConsultationAction.SCHEDULE: Transition(frozenset({S.ACCEPTED, S.SCHEDULED}), S.SCHEDULED,
                                            frozenset({Side.COORDINATOR})),
    ConsultationAction.START: Transition(frozenset({S.SCHEDULED}), S.IN_SESSION,
                                         frozenset({Side.COORDINATOR, Side.EXPERT})),
    # Taken by the service when the last assigned expert signs.
    ConsultationAction.SIGN_OFF: Transition(frozenset({S.IN_SESSION}), S.REPORTED,
                                            frozenset({Side.EXPERT})),
    ConsultationAction.CLOSE: Transition(frozenset({S.REPORTED}), S.CLOSED,
                                         frozenset({Side.COORDINATOR, Side.REQUESTER})),
    ConsultationAction.CANCEL: Transition(frozenset({S.REQUESTED, S.ACCEPTED, S.SCHEDULED}),
                                          S.CANCELLED, frozenset({Side.REQUESTER})),
}
AWAITING_ANSWER: Final = frozenset({S.REQUESTED})
# While open, the patients' records are shared with the consulted institution.
OPEN: Final = frozenset({S.REQUESTED, S.ACCEPTED, S.SCHEDULED, S.IN_SESSION, S.REPORTED})
ENDED: Final = frozenset({S.DECLINED, S.CLOSED, S.CANCELLED})
# A session that holds its experts' time.
HOLDS_TIME: Final = frozenset({S.SCHEDULED, S.IN_SESSION})

STATUS_NAMES: Final[Mapping[ConsultationStatus, tuple[str, str]]] = {
    S.REQUESTED: ("待受理", "Requested"),
    S.ACCEPTED: ("已受理", "Accepted"),
    S.DECLINED: ("已拒绝", "Declined"),
    S.SCHEDULED: ("已排期", "Scheduled"),
    S.IN_SESSION: ("会诊中", "In session"),
    S.REPORTED: ("报告已签署", "Report signed"),
    S.CLOSED: ("已结束", "Closed"),
    S.CANCELLED: ("已撤销", "Cancelled"),
}
ACTION_NAMES: Final[Mapping[ConsultationAction, tuple[str, str]]] = {
    ConsultationAction.ACCEPT: ("受理", "accepted"),
    ConsultationAction.DECLINE: ("拒绝", "declined"),
    ConsultationAction.SCHEDULE: ("排期", "scheduled"),
    ConsultationAction.START: ("开始会诊", "started"),
    ConsultationAction.SIGN_OFF: ("签署报告", "signed off"),
    ConsultationAction.CLOSE: ("结束", "closed"),
    ConsultationAction.CANCEL: ("撤销", "cancelled"),
}


def next_status(current: ConsultationStatus, action: ConsultationAction) -> ConsultationStatus:
    """The status ``action`` leads to from ``current``; 409 when the table does not allow it."""
    transition = TRANSITIONS[action]
    if current not in transition.sources:
        zh, en = STATUS_NAMES[current]
        action_zh, action_en = ACTION_NAMES[action]
        raise Conflict(
            "illegal_transition",
            f"会诊当前状态为“{zh}”，不能执行“{action_zh}”",
            f"The consultation is {en.lower()}; it cannot be {action_en} now",
        )
    return transition.target


def actions_from(current: ConsultationStatus) -> list[ConsultationAction]:
    """The actions the table allows from ``current``, in workflow order."""
    return [action for action, t in TRANSITIONS.items() if current in t.sources]
