"""Publishing events and reading the inbox: the notification rules, with no HTTP.

Other capabilities announce what happened with :func:`publish`, inside their own
transaction::

    from yilian.notify import service as notify
    notify.publish(session, kind="referral.accepted", institution_ids=[referrer_id],
                   user_ids=[referring_user_id], title_zh="转诊已接收",
                   title_en="Referral accepted", link="/referrals/12",
                   subject_ref="ServiceRequest/12")

It only flushes: the inbox items and the outbox messages commit or roll back with the
caller's change (the outbox pattern), and ``yilian notify deliver`` sends them later.

Webhooks leave Yilian for the institutions' own systems: put references in ``payload`` and
``subject_ref`` (ids, FHIR references the receiver reads back with its own, audited,
credentials), not patient details. Email goes out only when SMTP is configured
(``YILIAN_SMTP_HOST``, read from this process's settings).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session

from yilian.auth.models import Role, User
from yilian.config import Settings, get_settings
from yilian.db import utcnow
from yilian.errors import InvalidInput, NotFound
from yilian.notify.models import (
    Channel,
    InboxItem,
    Notification,
    NotificationContact,
    OutboxMessage,
    OutboxStatus,
    WebhookSubscription,
)

__all__ = [
    "STAFF_RECIPIENT_ROLES",
    "EmailContent",
    "get_contact",
    "get_item_or_raise",
    "kind_matches",
    "list_inbox",
    "mark_all_read",
    "mark_read",
    "publish",
    "set_contact",
    "unread_count",
    "webhook_body",
]

# Who hears about an event addressed to an institution rather than to named users: its
# active clinicians and hospital administrators (not clerks, patients or network roles).
# Users of exactly the named institutions: a lead hospital's staff are not told about its
# campus's events unless the caller names the lead hospital too.
STAFF_RECIPIENT_ROLES = frozenset({Role.CLINICIAN, Role.HOSPITAL_ADMIN})
KIND_MAX = 64
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+")


# ---------------------------------------------------------------- pure rules


def check_kind(kind: str) -> None:
    """Refuse a kind that is not a dotted lower-case event name like ``referral.accepted``."""
    if len(kind) > KIND_MAX or not KIND_PATTERN.fullmatch(kind):
        raise InvalidInput(
            "invalid_kind",
            f"事件类型须为以点分隔的小写名称，如 referral.accepted：{kind!r}",
            f"An event kind is a dotted lower-case name like referral.accepted: {kind!r}",
        )


def parse_kinds(text: str) -> list[str]:
    """The kind prefixes of a subscription, from space- or comma-separated text."""
    return sorted({part for part in text.replace(",", " ").split() if part})


def kind_matches(prefixes: Sequence[str], kind: str) -> bool:
    """Whether a subscription to these prefixes wants ``kind`` (no prefixes: every kind).

    A prefix matches on dot boundaries: ``referral`` takes ``referral.accepted``, but not
    ``referrals.x``; ``*`` takes everything.
    """
    if not prefixes:
        return True
    return any(p == "*" or kind == p or kind.startswith(p.rstrip(".") + ".") for p in prefixes)


def webhook_body(
    notification: Notification, *, delivery_id: str, institution_id: int
) -> str:
    """The JSON a subscriber receives: the event, stable across retries."""
    return json.dumps(
        {
            "delivery_id": delivery_id,
            "event_id": notification.event_id,
            "kind": notification.kind,
            "created_at": notification.created_at.isoformat(),
            "institution_id": institution_id,
            "subject_ref": notification.subject_ref,
            "title": {"zh": notification.title_zh, "en": notification.title_en},
            "body": {"zh": notification.body_zh, "en": notification.body_en},
            "link": notification.link,
            "payload": json.loads(notification.payload),
        },
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class EmailContent:
    """An email as the outbox keeps it: everything the worker needs to send it."""

    to: str
    subject: str
    text: str

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(
            {"to": self.to, "subject": self.subject, "text": self.text}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str) -> EmailContent:
        """Back from the stored form."""
        data = json.loads(text)
        return cls(to=data["to"], subject=data["subject"], text=data["text"])


def email_content(notification: Notification, *, to: str, site_url: str) -> EmailContent:
    """A bilingual plain-text email announcing the notification (Chinese first)."""
    lines = [notification.title_zh]
    if notification.body_zh:
        lines += ["", notification.body_zh]
    lines += ["", "——", "", notification.title_en]
    if notification.body_en:
        lines += ["", notification.body_en]
    if notification.link:
        lines += ["", f"{site_url.rstrip('/')}{notification.link}"]
    return EmailContent(
        to=to,
        subject=f"[医联 Yilian] {notification.title_zh} / {notification.title_en}",
        text="\n".join(lines) + "\n",
    )


# ---------------------------------------------------------------- publish


def _recipients(
    *, institution_ids: Sequence[int], user_ids: Sequence[int]
) -> Select[int] | None:
    """The users an event reaches: the named active users, or else the institutions' staff
    (None: nobody)."""
    statement = select(User.id).where(User.is_active.is_(True)).order_by(User.id)
    if user_ids:
        return statement.where(User.id.in_(set(user_ids)))
    if not institution_ids:
        return None
    return statement.where(
        User.institution_id.in_(set(institution_ids)),
        User.role.in_(STAFF_RECIPIENT_ROLES),
    )


# Built once: every event published asks it.
_SUBSCRIPTIONS = (
    select(WebhookSubscription)
    .where(WebhookSubscription.institution_id.in_(bindparam("institutions", expanding=True)),
           WebhookSubscription.is_active.is_(True))
    .order_by(WebhookSubscription.id)
)


def _matching_subscriptions(
    session: Session, *, institution_ids: Sequence[int], kind: str
) -> list[WebhookSubscription]:
    if not institution_ids:
        return []
    candidates = session.scalars(_SUBSCRIPTIONS, {"institutions": sorted(set(institution_ids))})
    return [s for s in candidates if kind_matches(parse_kinds(s.kinds), kind)]


def publish(
    session: Session,
    *,
    kind: str,
    institution_ids: Sequence[int],
    user_ids: Sequence[int] = (),
    title_zh: str,
    title_en: str,
    body_zh: str = "",
    body_en: str = "",
    link: str = "",
    payload: Mapping[str, Any] | None = None,
    subject_ref: str = "",
) -> Notification:
    """Announce an event: inbox items, webhook and email outbox messages, flushed only."""
    check_kind(kind)
    settings = get_settings()
    notification = Notification(
        event_id=str(uuid.uuid4()), kind=kind, subject_ref=subject_ref[:64],
        title_zh=title_zh[:200], title_en=title_en[:200], body_zh=body_zh, body_en=body_en,
        link=link[:300], payload=json.dumps(dict(payload or {}), ensure_ascii=False,
                                            default=str, sort_keys=True),
        created_at=utcnow(),
    )
    session.add(notification)
    session.flush()
    now = notification.created_at
    chosen = _recipients(institution_ids=institution_ids, user_ids=user_ids)
    recipients: list[int] = []
    # Bulk inserts: the notification's own row is audited; its fan-out is its detail. The
    # inbox items are chosen and written in one statement, which names who got one (for
    # the emails).
    if chosen is not None:
        recipients = list(session.scalars(insert(InboxItem).from_select(
            ["user_id", "notification_id", "created_at"],
            chosen.with_only_columns(User.id, literal(notification.id),
                                     literal(now, InboxItem.created_at.type)),
        ).returning(InboxItem.user_id)))
    messages: list[dict[str, Any]] = []
    for subscription in _matching_subscriptions(
        session, institution_ids=institution_ids, kind=kind
    ):
        delivery_id = str(uuid.uuid4())
        messages.append(_message(
            notification, now, delivery_id=delivery_id, channel=Channel.WEBHOOK,
            subscription_id=subscription.id, institution_id=subscription.institution_id,
            recipient=subscription.url,
            body=webhook_body(notification, delivery_id=delivery_id,
                              institution_id=subscription.institution_id),
        ))
    if settings.smtp_host and recipients:
        for contact in _email_contacts(session, user_ids=recipients):
            content = email_content(notification, to=contact.email,
                                    site_url=settings.notify_site_url)
            messages.append(_message(
                notification, now, delivery_id=str(uuid.uuid4()), channel=Channel.EMAIL,
                subscription_id=None, institution_id=None, recipient=contact.email,
                body=content.to_json(),
            ))
    if messages:
        session.execute(insert(OutboxMessage), messages)
    return notification


def _message(
    notification: Notification, now: datetime, *, delivery_id: str, channel: Channel,
    subscription_id: int | None, institution_id: int | None, recipient: str, body: str,
) -> dict[str, Any]:
    return {
        "delivery_id": delivery_id, "notification_id": notification.id, "channel": channel,
        "subscription_id": subscription_id, "institution_id": institution_id,
        "recipient": recipient[:500], "kind": notification.kind, "body": body,
        "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
        "claim_token": "", "last_error": "", "created_at": now,
    }


def _email_contacts(session: Session, *, user_ids: Sequence[int]) -> list[NotificationContact]:
    return list(session.scalars(
        select(NotificationContact)
        .where(NotificationContact.user_id.in_(user_ids),
               NotificationContact.email_enabled.is_(True),
               NotificationContact.email != "")
        .order_by(NotificationContact.user_id)
    ))


def smtp_configured(settings: Settings) -> bool:
    """Whether email is sent at all."""
    return bool(settings.smtp_host)


# ---------------------------------------------------------------- the inbox


def list_inbox(
    session: Session, *, user_id: int, unread_only: bool = False, offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[InboxItem], int]:
    """One user's inbox items, newest first, with the total count."""
    where = [InboxItem.user_id == user_id]
    if unread_only:
        where.append(InboxItem.read_at.is_(None))
    total = session.scalar(select(func.count(InboxItem.id)).where(*where)) or 0
    items = session.scalars(
        select(InboxItem).where(*where).order_by(InboxItem.id.desc()).offset(offset).limit(limit)
    ).all()
    return items, total


def unread_count(session: Session, *, user_id: int) -> int:
    """How many of the user's inbox items are unread (one index-only count)."""
    return session.scalar(
        select(func.count(InboxItem.id)).where(
            InboxItem.user_id == user_id, InboxItem.read_at.is_(None)
        )
    ) or 0


def get_item_or_raise(session: Session, *, user_id: int, item_id: int) -> InboxItem:
    """One of the user's own inbox items; someone else's is a 404 like a missing one."""
    item = session.get(InboxItem, item_id)
    if item is None or item.user_id != user_id:
        raise NotFound("通知", "Notification", item_id)
    return item


def mark_read(session: Session, *, item: InboxItem) -> InboxItem:
    """Mark one inbox item read (reading it twice keeps the first time)."""
    if item.read_at is None:
        session.execute(
            update(InboxItem).where(InboxItem.id == item.id, InboxItem.read_at.is_(None))
            .values(read_at=utcnow())
        )
        session.refresh(item)
    return item


def mark_all_read(session: Session, *, user_id: int) -> int:
    """Mark every unread item of the user read; how many were."""
    result = session.execute(
        update(InboxItem).where(InboxItem.user_id == user_id, InboxItem.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- email contacts


def get_contact(session: Session, *, user_id: int) -> NotificationContact | None:
    """Where the user gets notification email, if they said."""
    return session.scalars(
        select(NotificationContact).where(NotificationContact.user_id == user_id)
    ).first()


def set_contact(
    session: Session, *, user_id: int, email: str, email_enabled: bool
) -> NotificationContact:
    """Set (or change) the user's notification email address."""
    contact = get_contact(session, user_id=user_id)
    if contact is None:
        contact = NotificationContact(user_id=user_id, email=email)
        session.add(contact)
    contact.email = email
    contact.email_enabled = email_enabled
    contact.updated_at = utcnow()
    session.flush()
    return contact

