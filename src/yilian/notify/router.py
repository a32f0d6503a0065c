"""Notification REST API: the signed-in user's inbox and email address, and the webhook
subscriptions of an institution with their delivery log.

Every user reads only their own inbox (another user's item is a 404). Subscriptions are
managed by the institution's hospital administrator or the platform administrator; a
subscription's secret is in the answer to its creation or re-keying, and nowhere else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import NotFound
from yilian.notify import service as notify
from yilian.notify import subscriptions
from yilian.notify.models import InboxItem, OutboxMessage, OutboxStatus, WebhookSubscription
from yilian.notify.schemas import (
    ContactRead,
    ContactWrite,
    DeliveryRead,
    InboxItemRead,
    MarkedRead,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
    SubscriptionWithSecret,
    UnreadCount,
)
from yilian.schemas import LARGEST_KEY, Key, Page

Offset = Annotated[int, Query(ge=0, le=LARGEST_KEY, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page (at most 200)")]
Manager = Annotated[Principal, RequirePermission(Action.WEBHOOK_MANAGE)]

inbox = APIRouter(prefix="/api/v1/inbox", tags=["notifications"],
                  dependencies=[RequirePermission(Action.INBOX_READ)])
hooks = APIRouter(prefix="/api/v1/notify", tags=["notifications"],
                  dependencies=[RequirePermission(Action.WEBHOOK_MANAGE)])


def _my_item(item_id: Key, session: DbSession, principal: CurrentPrincipal) -> InboxItem:
    return notify.get_item_or_raise(session, user_id=principal.user_id, item_id=item_id)


def _subscription(
    subscription_id: Key, session: DbSession, principal: Manager
) -> WebhookSubscription:
    return subscriptions.get_or_raise(session, principal=principal,
                                      subscription_id=subscription_id)


def _message(message_id: Key, session: DbSession, principal: Manager) -> OutboxMessage:
    return subscriptions.get_message_or_raise(session, principal=principal,
                                              message_id=message_id)


MyItem = Annotated[InboxItem, Depends(_my_item)]
CurrentSubscription = Annotated[WebhookSubscription, Depends(_subscription)]
CurrentMessage = Annotated[OutboxMessage, Depends(_message)]


# ---------------------------------------------------------------- the inbox


@inbox.get("", response_model=Page[InboxItemRead])
def list_inbox(
    session: DbSession, principal: CurrentPrincipal, offset: Offset = 0, limit: Limit = 50,
    unread: Annotated[bool, Query(description="Only unread items")] = False,
) -> Page[InboxItemRead]:
    """The signed-in user's notifications, newest first."""
    items, total = notify.list_inbox(session, user_id=principal.user_id, unread_only=unread,
                                     offset=offset, limit=limit)
    return Page(items=[InboxItemRead.model_validate(i) for i in items], total=total,
                offset=offset, limit=limit)


@inbox.get("/unread-count", response_model=UnreadCount)
def unread_count(session: DbSession, principal: CurrentPrincipal) -> UnreadCount:
    """How many of the signed-in user's notifications are unread."""
    return UnreadCount(unread=notify.unread_count(session, user_id=principal.user_id))


@inbox.post("/{item_id}/read", response_model=InboxItemRead)
def mark_read(item: MyItem, session: DbSession) -> InboxItemRead:
    """Mark one of the user's notifications read."""
    return InboxItemRead.model_validate(notify.mark_read(session, item=item))


@inbox.post("/read-all", response_model=MarkedRead)
def mark_all_read(session: DbSession, principal: CurrentPrincipal) -> MarkedRead:
    """Mark all the user's notifications read."""
    return MarkedRead(marked=notify.mark_all_read(session, user_id=principal.user_id))


@inbox.get("/contact", response_model=ContactRead)
def read_contact(session: DbSession, principal: CurrentPrincipal) -> ContactRead:
    """Where the user gets notification email (404 when they never said)."""
    contact = notify.get_contact(session, user_id=principal.user_id)
    if contact is None:
        raise NotFound("通知邮箱", "Notification email address", principal.username)
    return ContactRead.model_validate(contact)


@inbox.put("/contact", response_model=ContactRead)
def write_contact(
    body: ContactWrite, session: DbSession, principal: CurrentPrincipal
) -> ContactRead:
    """Set where the user gets notification email (sent only when SMTP is configured)."""
    contact = notify.set_contact(session, user_id=principal.user_id, email=body.email,
                                 email_enabled=body.email_enabled)
    return ContactRead.model_validate(contact)


# ---------------------------------------------------------------- webhook subscriptions


@hooks.get("/webhooks", response_model=list[SubscriptionRead])
def list_subscriptions(
    session: DbSession, principal: Manager,
    institution_id: Annotated[Key | None, Query(description="Of one institution")] = None,
) -> list[SubscriptionRead]:
    """The webhook subscriptions the user manages."""
    found = subscriptions.list_(session, principal=principal, institution_id=institution_id)
    return [SubscriptionRead.model_validate(s) for s in found]


@hooks.post("/webhooks", response_model=SubscriptionWithSecret, status_code=201)
def create_subscription(
    body: SubscriptionCreate, session: DbSession, settings: AppSettings, principal: Manager
) -> SubscriptionWithSecret:
    """Subscribe an institution's system to events; the answer carries the secret once."""
    made = subscriptions.create(session, settings, principal=principal,
                                institution_id=body.institution_id, url=body.url,
                                kinds=body.kinds, description=body.description)
    return _with_secret(made)


def _with_secret(made: subscriptions.WithSecret) -> SubscriptionWithSecret:
    return SubscriptionWithSecret.model_validate(
        {**SubscriptionRead.model_validate(made.subscription).model_dump(), "secret": made.secret}
    )


@hooks.get("/webhooks/{subscription_id}", response_model=SubscriptionRead)
def read_subscription(subscription: CurrentSubscription) -> SubscriptionRead:
    """One webhook subscription (without its secret)."""
    return SubscriptionRead.model_validate(subscription)


@hooks.patch("/webhooks/{subscription_id}", response_model=SubscriptionRead)
def update_subscription(
    body: SubscriptionUpdate, session: DbSession, subscription: CurrentSubscription
) -> SubscriptionRead:
    """Change the target, kinds, description, or switch the subscription on or off."""
    changed = subscriptions.update_(session, subscription=subscription, url=body.url,
                                    kinds=body.kinds, description=body.description,
                                    is_active=body.is_active)
    return SubscriptionRead.model_validate(changed)


@hooks.post("/webhooks/{subscription_id}/secret", response_model=SubscriptionWithSecret)
def rotate_secret(
    session: DbSession, settings: AppSettings, subscription: CurrentSubscription
) -> SubscriptionWithSecret:
    """Give the subscription a new signing secret, shown this once."""
    return _with_secret(subscriptions.rotate_secret(session, settings, subscription=subscription))


@hooks.get("/webhooks/{subscription_id}/deliveries", response_model=Page[DeliveryRead])
def list_deliveries(
    session: DbSession, subscription: CurrentSubscription, offset: Offset = 0,
    limit: Limit = 50, status: OutboxStatus | None = None,
) -> Page[DeliveryRead]:
    """The subscription's delivery log, newest first."""
    rows, total = subscriptions.list_deliveries(session, subscription=subscription,
                                                status=status, offset=offset, limit=limit)
    return Page(items=[DeliveryRead.model_validate(r) for r in rows], total=total,
                offset=offset, limit=limit)


@hooks.post("/outbox/{message_id}/requeue", response_model=DeliveryRead)
def requeue(session: DbSession, message: CurrentMessage) -> DeliveryRead:
    """Send a message that was given up again (409 for any other)."""
    return DeliveryRead.model_validate(subscriptions.requeue(session, message=message))


router = APIRouter()
router.include_router(inbox)
router.include_router(hooks)
