"""The referral workflow in one table: which action moves a referral from which states to
which state, and which side of the referral may take it. Every status change goes through
:func:`next_status`; nothing else decides whether a transition is legal.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from yilian.errors import Conflict
from yilian.referrals.labels import name_of
from yilian.referrals.models import TaskStatus


class Side(enum.StrEnum):
    """Who in a referral may take an action."""

    REFERRER = "referrer"  # 转出方
    RECEIVER = "receiver"  # 接收方


class ReferralAction(enum.StrEnum):
    """A step of the workflow (the POST actions of the API)."""

    SUBMIT = "submit"  # 提交
    RECEIVE = "receive"  # 接收
    ACCEPT = "accept"  # 同意
    REJECT = "reject"  # 拒绝
    ADVISE = "advise"  # 给出建议（不接收转诊）
    BOOK = "book"  # 预约/安排床位
    ARRIVE = "arrive"  # 到院/入院
    COMPLETE = "complete"  # 完成（回传结果/出院小结）
    CANCEL = "cancel"  # 撤销
    FAIL = "fail"  # 未到诊/过期


@dataclass(frozen=True)
class Transition:
    """Where an action may start, where it leads, and who may take it: ``side`` always,
    ``also`` within limits the action's service function sets."""

    sources: frozenset[TaskStatus]
    target: TaskStatus
    side: Side
    also: frozenset[Side] = frozenset()

    @property
    def sides(self) -> frozenset[Side]:
        """Every side that may take the action."""
        return frozenset({self.side}) | self.also


S = TaskStatus
OPEN: Final = frozenset({S.REQUESTED, S.RECEIVED})
TRANSITIONS: Final[Mapping[ReferralAction, Transition]] = {
    ReferralAction.SUBMIT: Transition(frozenset({S.DRAFT}), S.REQUESTED, Side.REFERRER),
    ReferralAction.RECEIVE: Transition(frozenset({S.REQUESTED}), S.RECEIVED, Side.RECEIVER),
    ReferralAction.ACCEPT: Transition(OPEN, S.ACCEPTED, Side.RECEIVER),
    ReferralAction.REJECT: Transition(OPEN, S.REJECTED, Side.RECEIVER),
    ReferralAction.ADVISE: Transition(OPEN, S.COMPLETED, Side.RECEIVER),
    # Once accepted, the referrer may book too, but only a published clinic slot of the
    # receiving department (issue 5: a county doctor books the Beijing expert's slot inside
    # the referral); a time, place or bed outside the schedule stays the receiver's to give.
    ReferralAction.BOOK: Transition(frozenset({S.ACCEPTED}), S.READY, Side.RECEIVER,
                                    also=frozenset({Side.REFERRER})),
    ReferralAction.ARRIVE: Transition(frozenset({S.ACCEPTED, S.READY}), S.IN_PROGRESS,
                                      Side.RECEIVER),
    ReferralAction.COMPLETE: Transition(frozenset({S.IN_PROGRESS}), S.COMPLETED, Side.RECEIVER),
    ReferralAction.CANCEL: Transition(
        frozenset({S.DRAFT, S.REQUESTED, S.RECEIVED, S.ACCEPTED, S.READY}), S.CANCELLED,
        Side.REFERRER,
    ),
    # No-show after acceptance, or expired unanswered.
    ReferralAction.FAIL: Transition(
        frozenset({S.REQUESTED, S.RECEIVED, S.ACCEPTED, S.READY}), S.FAILED, Side.RECEIVER
    ),
}
CLOSED: Final = frozenset({S.REJECTED, S.COMPLETED, S.CANCELLED, S.FAILED})
# Ends in which the receiving institution never (or no longer) cares for the patient: the
# records shared on acceptance stop being shared at once.
ENDED_WITHOUT_CARE: Final = frozenset({S.REJECTED, S.CANCELLED, S.FAILED})
AWAITING_ANSWER: Final = OPEN


def next_status(current: TaskStatus, action: ReferralAction) -> TaskStatus:
    """The status ``action`` leads to from ``current``; 409 when the table does not allow it."""
    transition = TRANSITIONS[action]
    if current not in transition.sources:
        raise Conflict(
            "illegal_transition",
            f"转诊当前状态为“{name_of(current, 'zh')}”，不能执行“{name_of(action, 'zh')}”",
            f"The referral is {name_of(current, 'en').lower()}; it cannot be "
            f"{name_of(action, 'en').lower()} now",
        )
    return transition.target


def action_for(current: TaskStatus, wanted: TaskStatus) -> ReferralAction:
    """The action that takes a referral from ``current`` to ``wanted`` (FHIR Task update)."""
    for action, transition in TRANSITIONS.items():
        if transition.target is wanted and current in transition.sources and (
            action is not ReferralAction.ADVISE
        ):
            return action
    raise Conflict(
        "illegal_transition",
        f"转诊状态不能从“{name_of(current, 'zh')}”变为“{name_of(wanted, 'zh')}”",
        f"A referral cannot go from {name_of(current, 'en').lower()} to "
        f"{name_of(wanted, 'en').lower()}",
    )


def actions_from(current: TaskStatus) -> list[ReferralAction]:
    """The actions the table allows from ``current``, in workflow order."""
    return [action for action, t in TRANSITIONS.items() if current in t.sources]
