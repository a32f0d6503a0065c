"""Webhook subscriptions of an institution and their delivery log: the rules, no HTTP.

A hospital administrator manages the subscriptions of the institutions they run (their own
and its campuses); the platform administrator manages all. The signing secret is generated
here, returned once by :func:`create` and :func:`rotate_secret`, and stored only encrypted
with the field cipher (``yilian.crypto``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.notify.models import OutboxAttempt, OutboxMessage, OutboxStatus, WebhookSubscription
from yilian.notify.service import parse_kinds
from yilian.registry import service as registry

SECRET_FIELD = "webhook_subscription.secret"  # noqa: S105 - a field name, not a secret
SECRET_PREFIX = "whsec_"  # noqa: S105 - marks a string as a webhook secret


@dataclass(frozen=True)
class WithSecret:
    """A subscription just created or re-keyed, with its secret in the clear (shown once)."""

    subscription: WebhookSubscription
    secret: str


def new_secret() -> str:
    """A fresh signing secret: 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def reveal_secret(settings: Settings, subscription: WebhookSubscription) -> str:
    """The subscription's signing secret, decrypted (for the delivery worker only)."""
    return cipher_from_settings(settings).decrypt(SECRET_FIELD, subscription.secret_encrypted)


def check_url(url: str) -> str:
    """Refuse a webhook target that is not an absolute http(s) URL without credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise InvalidInput(
            "invalid_webhook_url",
            f"回调地址须为完整的 http(s) 地址，且不含用户名密码：{url}",
            f"A webhook URL must be an absolute http(s) URL without credentials: {url}",
        )
    return url


def normalised_kinds(text: str) -> str:
    """The subscription's kind prefixes as stored: sorted, space-separated."""
    return " ".join(parse_kinds(text))


def list_(
    session: Session, *, principal: Principal, institution_id: int | None = None
) -> Sequence[WebhookSubscription]:
    """The subscriptions the principal may manage, optionally of one institution."""
    statement = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if not principal.is_network_wide:
        statement = statement.where(
            WebhookSubscription.institution_id.in_(principal.institution_ids)
        )
    if institution_id is not None:
        statement = statement.where(WebhookSubscription.institution_id == institution_id)
    return session.scalars(statement).all()


def get_or_raise(
    session: Session, *, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """A subscription the principal may manage; 404 when missing, 403 when not theirs."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound("回调订阅", "Webhook subscription", subscription_id)
    authorize(principal, Action.WEBHOOK_MANAGE, [subscription.institution_id])
    return subscription


def create(
    session: Session,
    settings: Settings,
    *,
    principal: Principal,
    institution_id: int,
    url: str,
    kinds: str = "",
    description: str = "",
) -> WithSecret:
    """Subscribe an institution's system to events; the secret is returned this once."""
    registry.check_institution_exists(session, institution_id=institution_id)
    authorize(principal, Action.WEBHOOK_MANAGE, [institution_id])
    secret = new_secret()
    subscription = WebhookSubscription(
        institution_id=institution_id, url=check_url(url), kinds=normalised_kinds(kinds),
        description=description,
        secret_encrypted=cipher_from_settings(settings).encrypt(SECRET_FIELD, secret),
        is_active=True, created_at=utcnow(), created_by_user_id=principal.user_id,
    )
    session.add(subscription)
    session.flush()
    return WithSecret(subscription, secret)


def update_(
    session: Session,
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    kinds: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> WebhookSubscription:
    """Change a subscription's target, kinds, description or whether it is active."""
    if url is not None:
        subscription.url = check_url(url)
    if kinds is not None:
        subscription.kinds = normalised_kinds(kinds)
    if description is not None:
        subscription.description = description
    if is_active is not None:
        subscription.is_active = is_active
    session.flush()
    return subscription


def rotate_secret(
    session: Session, settings: Settings, *, subscription: WebhookSubscription
) -> WithSecret:
    """Give the subscription a new secret (returned this once); later sends use it."""
    secret = new_secret()
    subscription.secret_encrypted = cipher_from_settings(settings).encrypt(SECRET_FIELD, secret)
    session.flush()
    return WithSecret(subscription, secret)


# ---------------------------------------------------------------- the delivery log


def list_deliveries(
    session: Session,
    *,
    subscription: WebhookSubscription,
    status: OutboxStatus | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[OutboxMessage], int]:
    """The subscription's outbox messages, newest first, with the total count."""
    where = [OutboxMessage.subscription_id == subscription.id]
    if status is not None:
        where.append(OutboxMessage.status == status)
    total = session.scalar(select(func.count(OutboxMessage.id)).where(*where)) or 0
    rows = session.scalars(
        select(OutboxMessage).where(*where).order_by(OutboxMessage.id.desc())
        .offset(offset).limit(limit)
    ).all()
    return rows, total


def attempts_of(session: Session, *, message: OutboxMessage) -> Sequence[OutboxAttempt]:
    """Every try at sending the message, oldest first."""
    return session.scalars(
        select(OutboxAttempt).where(OutboxAttempt.message_id == message.id)
        .order_by(OutboxAttempt.id)
    ).all()


def get_message_or_raise(
    session: Session, *, principal: Principal, message_id: int
) -> OutboxMessage:
    """An outbox message of a subscription the principal manages (email: platform admin)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("待发消息", "Outbox message", message_id)
    if message.subscription_id is not None:
        get_or_raise(session, principal=principal, subscription_id=message.subscription_id)
    else:
        authorize(principal, Action.WEBHOOK_MANAGE, [-1])  # email: network-wide admins only
    return message


def requeue(session: Session, *, message: OutboxMessage) -> OutboxMessage:
    """Send a dead message again from now, with a fresh count of attempts; else 409."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == OutboxStatus.DEAD)
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(),
                claimed_until=None, claim_token="")
    )
    if not getattr(result, "rowcount", 0):
        raise Conflict(
            "not_dead",
            "只有已放弃的消息可以重新发送",
            "Only a message that was given up can be queued again",
        )
    session.refresh(message)
    audit.record(session, action="outbox_message.requeue", entity_type="outbox_message",
                 entity_id=str(message.id), institution_id=message.institution_id)
    return message
