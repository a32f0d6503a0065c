"""Request-scoped dependencies shared by every capability's routes (STYLE.md §7).

``DbSession`` is the request's unit of work: it commits when the route returns and rolls
back when it raises, before the response is sent, so a client never sees success for a
change that was not stored. ``CurrentPrincipal`` authenticates by bearer token (API) or
signed session cookie (web UI; unsafe methods then need the CSRF token).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from yilian.audit import service as audit
from yilian.auth import service as users
from yilian.auth.permissions import Action, Principal, authorize
from yilian.auth.security import read_token
from yilian.config import Settings
from yilian.errors import NotAuthenticated, PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
# Connections kept for audit records of refused requests, written outside the request's
# own (rolled back) session, and for the background worker and health checks.
DETACHED_SLOTS = 4
POOL_SPARE = 4


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


def audit_context(request: Request) -> audit.AuditContext:
    """Where the request comes from, before anyone is known to be signed in."""
    found = getattr(request.state, "audit_context", None)
    if isinstance(found, audit.AuditContext):
        return found
    context = audit.AuditContext(
        actor="anonymous",
        client_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        request_id=getattr(request.state, "request_id", ""),
    )
    request.state.audit_context = context
    return context


@dataclass(frozen=True)
class DatabaseSlots:
    """How many requests may hold a database session at once (``db_sessions_max``).

    A sync route's session is used across several thread-pool hops. If threads could block
    on the connection pool while the requests holding connections wait for a thread, a
    flash crowd would deadlock until the pool times out (HTTP 500s). So a request first
    waits here, in the event loop, for a slot; the pool is sized so that a request holding
    a slot always gets its connection at once. Refusal audits have slots of their own.
    """

    sessions: anyio.CapacityLimiter
    detached: anyio.CapacityLimiter

    @classmethod
    def sized(cls, sessions: int, detached: int = DETACHED_SLOTS) -> DatabaseSlots:
        return cls(anyio.CapacityLimiter(sessions), anyio.CapacityLimiter(detached))


def _close(session: Session, *, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: commit on success, roll back on any error."""
    slots: DatabaseSlots = request.app.state.db_slots
    borrower = object()
    await slots.sessions.acquire_on_behalf_of(borrower)
    try:
        session = session_factory(request)()  # no I/O until first used, in a thread
        audit.bind(session, audit_context(request))
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(_close, session, commit=False)
            raise
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_close, session, commit=True)
    finally:
        slots.sessions.release_on_behalf_of(borrower)


DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe cookie-authenticated request without the session's CSRF token."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not (isinstance(expected, str) and given and hmac.compare_digest(expected, given)):
        raise PermissionDenied(
            "表单已失效，请刷新页面后重试", "The form has expired; reload the page and try again",
            action="csrf",
        )


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


async def _csrf_if_cookie(request: Request) -> None:
    cookie_signed_in = request.session.get("sid") is not None
    if request.method not in SAFE_METHODS and _bearer_token(request) is None and cookie_signed_in:
        await check_csrf(request)


def get_principal(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    _csrf: Annotated[None, Depends(_csrf_if_cookie)],
) -> Principal:
    """The signed-in user, by bearer token or session cookie; 401 when neither is valid."""
    token = _bearer_token(request)
    if token is not None:
        user_id, version = read_token(token, secret_key=settings.resolved_secret_key())
    else:
        sid, version_in_cookie = request.session.get("sid"), request.session.get("ver")
        if not isinstance(sid, str) or not isinstance(version_in_cookie, int):
            raise NotAuthenticated()
        cookie_user_id = users.web_session_user_id(session, token=sid)
        if cookie_user_id is None:
            request.session.clear()
            raise NotAuthenticated("登录已失效，请重新登录", "Your sign-in is no longer valid")
        user_id, version = cookie_user_id, version_in_cookie
    principal = users.signed_in_principal(session, user_id=user_id, token_version=version)
    if principal is None:  # disabled, deleted, or signed out everywhere since
        request.session.clear()
        raise NotAuthenticated("登录已失效，请重新登录", "Your sign-in is no longer valid")
    context = audit_context(request).for_principal(principal)
    request.state.audit_context = context
    request.state.principal = principal
    audit.bind(session, context)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def RequirePermission(action: Action) -> Any:
    """A dependency that lets the request through only if the role may do ``action``."""

    async def check(principal: CurrentPrincipal) -> Principal:  # pure: no thread hop
        authorize(principal, action)
        return principal

    check.__name__ = f"require_{action.name.lower()}"
    return Depends(check)
