"""Notification pages: the inbox (with the nav badge's count), and for administrators the
webhook subscriptions of their institutions with each one's delivery log.

The badge is fetched by htmx from ``/inbox/badge`` once a page has loaded: one indexed
count per page view, outside the page's own rendering, so no other page has to know about
notifications. Also here: the optional outbox worker thread of a server process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.notify import labels, subscriptions
from yilian.notify import service as notify
from yilian.notify.delivery import BackgroundWorker, Worker
from yilian.notify.models import OutboxStatus
from yilian.portal.pages import N_, flash, page_number, pager, render_page
from yilian.registry import service as registry
from yilian.schemas import Key
from yilian.webui import current_language


@asynccontextmanager
async def outbox_worker(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves, run the outbox worker on a thread if the settings say so."""
    settings = app.state.settings
    background = None
    if settings.notify_worker_in_server:
        background = BackgroundWorker(Worker(settings, app.state.sessionmaker)).start()
    try:
        yield
    finally:
        if background is not None:
            background.stop()


router = APIRouter(include_in_schema=False, lifespan=outbox_worker)

PAGE_SIZE = 25


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    language = current_language.get()
    helpers = {"name_of": lambda member: labels.name_of(member, language)}
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


def is_local_path(link: str) -> bool:
    """Whether a notification's link stays on this site (never an open redirect)."""
    return link.startswith("/") and not link.startswith("//") and "\\" not in link


def _manager(principal: Principal) -> Principal:
    authorize(principal, Action.WEBHOOK_MANAGE)
    return principal


# ---------------------------------------------------------------- the inbox


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    page: str | None = None, unread: str = "",
) -> HTMLResponse:
    """The signed-in user's notifications, newest first."""
    authorize(principal, Action.INBOX_READ)
    number = page_number(page)
    unread_only = unread == "1"
    items, total = notify.list_inbox(session, user_id=principal.user_id,
                                     unread_only=unread_only,
                                     offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return _page(request, session, "notify/inbox.html", {
        "items": items, "total": total, "unread": unread_only,
        "unread_count": notify.unread_count(session, user_id=principal.user_id),
        "pager": pager("/inbox", {"unread": "1" if unread_only else ""}, number, total,
                       page_size=PAGE_SIZE),
    })


@router.get("/inbox/badge", response_class=HTMLResponse)
def inbox_badge(session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    """The nav's unread count: a badge, or nothing when all is read."""
    count = notify.unread_count(session, user_id=principal.user_id)
    shown = "99+" if count > 99 else str(count)
    return HTMLResponse(f'<span class="badge" data-unread="{count}">{shown}</span>'
                        if count else "")


@router.post("/inbox/{item_id}/read")
def inbox_read(item_id: Key, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Mark one notification read and open what it is about (or go back to the inbox)."""
    item = notify.get_item_or_raise(session, user_id=principal.user_id, item_id=item_id)
    notify.mark_read(session, item=item)
    link = item.notification.link
    target = link if is_local_path(link) else "/inbox"
    return RedirectResponse(target, status_code=303)


@router.post("/inbox/read-all")
def inbox_read_all(request: Request, session: DbSession,
                   principal: CurrentPrincipal) -> Response:
    """Mark every notification read."""
    notify.mark_all_read(session, user_id=principal.user_id)
    flash(request, N_("All notifications marked read."))
    return RedirectResponse("/inbox", status_code=303)


# ---------------------------------------------------------------- webhook subscriptions


@router.get("/notify/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: DbSession,
                  principal: CurrentPrincipal) -> HTMLResponse:
    """The webhook subscriptions the administrator manages, and a form for a new one."""
    _manager(principal)
    found = subscriptions.list_(session, principal=principal)
    institutions = registry.institutions_by_id(
        session, ids={s.institution_id for s in found} | set(principal.institution_ids))
    return _page(request, session, "notify/webhooks.html", {
        "subscriptions": found, "institutions": institutions,
        "default_code": (institutions[principal.institution_id].code
                         if principal.institution_id in institutions else ""),
    })


@router.post("/notify/webhooks", response_class=HTMLResponse)
def webhooks_create(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    institution_code: Annotated[str, Form()], url: Annotated[str, Form()],
    kinds: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Create a subscription and show its secret, this once."""
    _manager(principal)
    institution = registry.institution_by_code_or_raise(session, code=institution_code.strip())
    made = subscriptions.create(session, settings, principal=principal,
                                institution_id=institution.id, url=url.strip(),
                                kinds=kinds, description=description.strip()[:200])
    return _detail(request, session, made.subscription.id, principal, secret=made.secret)


def _detail(request: Request, session: Session, subscription_id: Key, principal: Principal,
            *, secret: str = "", page: str | None = None) -> HTMLResponse:
    subscription = subscriptions.get_or_raise(session, principal=principal,
                                              subscription_id=subscription_id)
    number = page_number(page)
    rows, total = subscriptions.list_deliveries(session, subscription=subscription,
                                                offset=(number - 1) * PAGE_SIZE,
                                                limit=PAGE_SIZE)
    institution = registry.get_institution(session, institution_id=subscription.institution_id)
    return _page(request, session, "notify/webhook.html", {
        "subscription": subscription, "institution": institution, "secret": secret,
        "deliveries": rows, "total": total, "dead": OutboxStatus.DEAD,
        "pager": pager(f"/notify/webhooks/{subscription.id}", {}, number, total,
                       page_size=PAGE_SIZE),
    })


@router.get("/notify/webhooks/{subscription_id}", response_class=HTMLResponse)
def webhook_page(request: Request, subscription_id: Key, session: DbSession,
                 principal: CurrentPrincipal, page: str | None = None) -> HTMLResponse:
    """One subscription with its delivery log."""
    _manager(principal)
    return _detail(request, session, subscription_id, principal, page=page)


@router.post("/notify/webhooks/{subscription_id}")
def webhook_update(
    request: Request, subscription_id: Key, session: DbSession, principal: CurrentPrincipal,
    url: Annotated[str, Form()], kinds: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "", is_active: Annotated[str, Form()] = "",
) -> Response:
    """Change a subscription (its target, kinds, whether it is on)."""
    _manager(principal)
    subscription = subscriptions.get_or_raise(session, principal=principal,
                                              subscription_id=subscription_id)
    subscriptions.update_(session, subscription=subscription, url=url.strip(), kinds=kinds,
                          description=description.strip()[:200], is_active=is_active == "1")
    flash(request, N_("Webhook subscription saved."))
    return RedirectResponse(f"/notify/webhooks/{subscription.id}", status_code=303)


@router.post("/notify/outbox/{message_id}/requeue")
def outbox_requeue(request: Request, message_id: Key, session: DbSession,
                   principal: CurrentPrincipal) -> Response:
    """Queue a given-up message again and go back to its subscription's log."""
    _manager(principal)
    message = subscriptions.get_message_or_raise(session, principal=principal,
                                                 message_id=message_id)
    subscriptions.requeue(session, message=message)
    flash(request, N_("The message will be sent again."))
    back = f"/notify/webhooks/{message.subscription_id}" if message.subscription_id else "/inbox"
    return RedirectResponse(back, status_code=303)
