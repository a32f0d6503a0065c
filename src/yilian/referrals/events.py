"""The timeline: every step of a referral is recorded by :func:`record_event`, which also
says who should hear of it. The notification capability hooks in here (one call site).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth import service as users
from yilian.auth.permissions import Principal
from yilian.notify import service as notify
from yilian.referrals import labels
from yilian.referrals.models import EventKind, Referral, ReferralEvent, TaskStatus
from yilian.referrals.states import Side


@dataclass(frozen=True)
class Audience:
    """Who should hear of an event: users, whole institutions, departments, practitioners."""

    user_ids: frozenset[int] = frozenset()
    institution_ids: frozenset[int] = frozenset()
    department_ids: frozenset[int] = frozenset()
    practitioner_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class RecordedEvent:
    """An event appended to a referral's timeline and the audience to notify."""

    event: ReferralEvent
    audience: Audience = field(default_factory=Audience)


def actor_side(referral: Referral, principal: Principal | None) -> Side:
    """The side the actor acts for: the receiving side when they can act for it only."""
    if principal is None:
        return Side.RECEIVER
    reach = principal.institution_ids
    if referral.target_institution_id in reach and referral.referring_institution_id not in reach:
        return Side.RECEIVER
    return Side.REFERRER


def known(*ids: int | None) -> frozenset[int]:
    """The ids that are set."""
    return frozenset(i for i in ids if i is not None)


def audience_for(referral: Referral, *, heard_by: Side) -> Audience:
    """The people of one side of the referral: its referrer, or its receiving department."""
    if heard_by is Side.REFERRER:
        return Audience(
            user_ids=known(referral.referring_user_id),
            institution_ids=known(referral.referring_institution_id),
            practitioner_ids=known(referral.referring_practitioner_id),
        )
    return Audience(
        institution_ids=known(referral.target_institution_id),
        department_ids=known(referral.target_department_id),
        practitioner_ids=known(referral.target_practitioner_id),
    )


def record_event(
    session: Session,
    *,
    referral: Referral,
    kind: EventKind,
    principal: Principal | None,
    action: str = "",
    from_status: TaskStatus | None = None,
    to_status: TaskStatus | None = None,
    reason: str = "",
    note: str = "",
    acting_for: Side | None = None,
    audience: Audience | None = None,
) -> RecordedEvent:
    """Append one step to the referral's timeline and say who should hear of it: the side
    other than ``acting_for`` (or ``audience`` when given, e.g. a department head)."""
    context = audit.context_of(session)
    # Read the timeline before the new entry joins the session: loading it afterwards would
    # flush the entry on its own first, and the notification below flushes it anyway.
    timeline = referral.events
    event = ReferralEvent(
        referral_id=referral.id,
        kind=kind,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=principal.username if principal is not None else context.actor,
        actor_user_id=principal.user_id if principal is not None else None,
        actor_institution_id=principal.institution_id if principal is not None else None,
        reason=reason,
        note=note,
    )
    session.add(event)
    timeline.append(event)
    if audience is None:
        side = acting_for or actor_side(referral, principal)
        other = Side.RECEIVER if side is Side.REFERRER else Side.REFERRER
        audience = audience_for(referral, heard_by=other)
    announce(session, referral=referral, event=event, audience=audience)
    return RecordedEvent(event=event, audience=audience)


def notification_kind(event: ReferralEvent) -> str:
    """The event's name for inboxes and webhooks: ``referral.<new status>`` when the step
    changed the status (``referral.accepted``, ``referral.in-progress``), else
    ``referral.<entry kind>`` (``referral.note``, ``referral.escalated``)."""
    if event.to_status is not None:
        return f"referral.{event.to_status.value}"
    return f"referral.{event.kind.value}"


def announce(
    session: Session, *, referral: Referral, event: ReferralEvent, audience: Audience
) -> None:
    """Tell the audience of an event through the inbox, webhooks and email (same transaction).

    Named users (and the accounts of named practitioners) get it in their inbox; with none
    named, the staff of the audience's institutions do. The title carries the referral's
    number and what happened, never the patient's name: webhooks leave the hospital.
    """
    if not audience.institution_ids and not audience.user_ids:
        return
    user_ids = set(audience.user_ids) | set(users.active_users_of_practitioners(
        session, practitioner_ids=audience.practitioner_ids))
    what: enum.Enum = event.to_status if event.to_status is not None else event.kind
    notify.publish(
        session,
        kind=notification_kind(event),
        institution_ids=sorted(audience.institution_ids),
        user_ids=sorted(user_ids),
        title_zh=f"转诊 #{referral.id}：{labels.name_of(what, 'zh')}",
        title_en=f"Referral #{referral.id}: {labels.name_of(what, 'en')}",
        link=f"/referrals/{referral.id}",
        payload={"referral_id": referral.id, "status": referral.status.value,
                 "event": event.kind.value, "direction": referral.direction.value},
        subject_ref=f"ServiceRequest/{referral.id}",
    )
