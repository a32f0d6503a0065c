"""API shapes of the inbox, email contacts, webhook subscriptions and the delivery log."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from yilian.notify.models import Channel, OutboxStatus
from yilian.schemas import ReadModel, WriteModel


class NotificationRead(ReadModel):
    """An event as the inbox shows it."""

    event_id: str
    kind: str
    subject_ref: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    link: str
    created_at: datetime


class InboxItemRead(ReadModel):
    """One item of the signed-in user's inbox."""

    id: int
    read_at: datetime | None
    created_at: datetime
    notification: NotificationRead


class UnreadCount(ReadModel):
    """How many inbox items are unread."""

    unread: int


class MarkedRead(ReadModel):
    """How many items a "mark all read" marked."""

    marked: int


class ContactWrite(WriteModel):
    """Where the signed-in user wants notification email."""

    # A plain shape check; the SMTP server is the judge of whether the address exists.
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    email_enabled: bool = True


class ContactRead(ReadModel):
    """The signed-in user's notification email address."""

    email: str
    email_enabled: bool


class SubscriptionCreate(WriteModel):
    """A new webhook subscription of an institution."""

    institution_id: int
    url: str = Field(min_length=8, max_length=500)
    kinds: str = Field(default="", max_length=500,
                       description="Kind prefixes, space-separated; empty: every kind")
    description: str = Field(default="", max_length=200)


class SubscriptionUpdate(WriteModel):
    """Changes to a webhook subscription."""

    url: str | None = Field(default=None, min_length=8, max_length=500)
    kinds: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=200)
    is_active: bool | None = None


class SubscriptionRead(ReadModel):
    """A webhook subscription (never its secret)."""

    id: int
    institution_id: int
    url: str
    kinds: str
    description: str
    is_active: bool
    created_at: datetime


class SubscriptionWithSecret(SubscriptionRead):
    """A subscription just created or re-keyed: the secret, shown this once."""

    secret: str


class DeliveryRead(ReadModel):
    """One outbox message in the delivery log."""

    id: int
    delivery_id: str
    channel: Channel
    kind: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str
    last_status_code: int | None
    delivered_at: datetime | None
    created_at: datetime
