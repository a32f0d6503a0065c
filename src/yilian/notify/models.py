"""Tables of the notification plumbing: events, inbox items, webhook subscriptions, email
contacts and the outbox with its attempt log.

The outbox is written in the same transaction as the change it announces (the outbox
pattern): a rolled-back change leaves nothing to send, a committed one is sent at least
once. Each message keeps one ``delivery_id`` for all its attempts, so a receiver that
dedupes on it sees every event exactly once even when a crashed worker sent it twice.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class Channel(enum.StrEnum):
    """How an outbox message leaves Yilian."""

    WEBHOOK = "webhook"  # 回调接口
    EMAIL = "email"  # 电子邮件


class OutboxStatus(enum.StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"  # 待发送 (also while being retried)
    DELIVERED = "delivered"  # 已送达
    DEAD = "dead"  # 已放弃 (max attempts reached; an administrator may re-queue it)


class AttemptOutcome(enum.StrEnum):
    """What one delivery attempt came to."""

    DELIVERED = "delivered"  # 成功
    FAILED = "failed"  # 失败，稍后重试
    GAVE_UP = "gave_up"  # 失败，不再重试


class Notification(Base):
    """One event announced to people and systems (a referral accepted, a slot booked)."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)  # dotted: "referral.accepted"
    subject_ref: Mapped[str] = mapped_column(String(64), default="")  # "ServiceRequest/12"
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    body_zh: Mapped[str] = mapped_column(Text, default="")
    body_en: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")  # a path in the web UI
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxItem(Base):
    """A notification in one user's in-app inbox."""

    __tablename__ = "inbox_item"
    __table_args__ = (
        UniqueConstraint("user_id", "notification_id"),
        Index("ix_inbox_item_user_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    notification: Mapped[Notification] = relationship(lazy="joined")


class NotificationContact(Base):
    """Where a user wants notifications by email (kept apart from the account tables)."""

    __tablename__ = "notification_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    email_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSubscription(Base):
    """An institution's system that wants events POSTed to it, signed with a shared secret."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # Space-separated kind prefixes on dot boundaries ("referral scheduling.booked");
    # empty: every kind.
    kinds: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    # The signing secret, encrypted with yilian.crypto's field cipher; shown once.
    secret_encrypted: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class OutboxMessage(Base):
    """One webhook call or email waiting to be sent, being retried, sent, or given up."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)  # X-Yilian-Delivery
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, 16))
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_subscription.id"), index=True
    )
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(500))  # the URL or the email address
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # exactly what is sent, the same on every retry
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, 16), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # counted when claimed
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A worker's lease: until then no other worker takes the message; a crashed worker's
    # lease runs out and the message is taken again.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str] = mapped_column(String(36), default="")
    last_error: Mapped[str] = mapped_column(String(500), default="")
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxAttempt(Base):
    """One try at sending an outbox message, appended, never changed."""

    __tablename__ = "outbox_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[AttemptOutcome] = mapped_column(str_enum(AttemptOutcome, 16))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(500), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(64), default="")
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
