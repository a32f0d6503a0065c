"""Sign-in and sign-out pages (signed session cookie, CSRF-protected forms)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.auth import totp
from yilian.auth.models import User
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, check_csrf, csrf_token
from yilian.errors import YilianError
from yilian.webui import current_language, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None, expired: int = 0) -> Response:
    """The sign-in form."""
    csrf_token(request)
    error = None
    if expired:
        error = ("Signing in took too long; enter your password again"
                 if current_language.get() == "en" else "登录等待时间过长，请重新输入密码")
    return render(request, "login.html", {"next": _safe_next(next), "error": error})


# How long a sign-in may wait between the password and the second factor.
PENDING_SECONDS = 300
_PENDING = "pending_2fa"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _start_session(
    request: Request, session: Session, *, user: User, next: str,
    second_factor: str | None = None,
) -> None:
    """Record the sign-in and start a fresh session (no session fixation)."""
    users.complete_sign_in(session, user=user, client_ip=_client_ip(request),
                           second_factor=second_factor)
    request.session.clear()
    request.session["sid"] = users.start_web_session(
        session, user=user, client_ip=_client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    request.session["ver"] = user.token_version
    csrf_token(request)


def _pending_user(request: Request, session: Session) -> tuple[User, str] | None:
    """The user whose password was right and whose second factor is awaited, with where to
    go next; None when there is none or it waited too long (then sign in again)."""
    pending = request.session.get(_PENDING)
    if not isinstance(pending, dict):
        return None
    user_id, version, at = pending.get("uid"), pending.get("ver"), pending.get("at")
    if not (isinstance(user_id, int) and isinstance(version, int) and isinstance(at, int)):
        return None
    if not 0 <= time.time() - at <= PENDING_SECONDS:
        request.session.pop(_PENDING, None)
        return None
    user = users.get(session, user_id=user_id)
    if user is None or not user.is_active or user.token_version != version:
        request.session.pop(_PENDING, None)
        return None
    return user, _safe_next(str(pending.get("next") or "/"))


def _expired() -> Response:
    return RedirectResponse("/login?expired=1", status_code=303)


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password; then ask for the second factor, make an administrator or clerk
    without one set it up, or start the session at once."""
    try:
        user = users.check_password(
            session,
            username=username,
            password=password,
            client_ip=_client_ip(request),
            max_failures=settings.login_max_failures,
            window_minutes=settings.login_window_minutes,
        )
    except YilianError as error:
        session.commit()  # the failed attempt counts toward throttling and stays audited
        status = error.status_code if error.status_code in (401, 429) else 400
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": error.message(current_language.get()),
             "username": username},
            status_code=status,
        )
    enrolled = totp.is_enrolled(session, user_id=user.id)
    if enrolled or totp.required_for(settings, user):
        # Not signed in yet: only the pending sign-in is kept, in the signed cookie.
        request.session.clear()
        request.session[_PENDING] = {"uid": user.id, "ver": user.token_version,
                                     "next": _safe_next(next), "at": int(time.time())}
        csrf_token(request)
        return RedirectResponse("/login/code" if enrolled else "/login/enrol", status_code=303)
    _start_session(request, session, user=user, next=next)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/login/code")
def code_page(request: Request, session: DbSession) -> Response:
    """The second step of signing in: the authenticator's code (or a recovery code)."""
    pending = _pending_user(request, session)
    if pending is None:
        return _expired()
    return render(request, "login_code.html", {"error": None, "username": pending[0].username})


def _throttled(request: Request, error: YilianError, *, user: User, next: str) -> Response:
    """Too many wrong codes: the sign-in starts again, with the password, after the wait."""
    request.session.pop(_PENDING, None)
    return render(request, "login.html",
                  {"next": next, "error": error.message(current_language.get()),
                   "username": user.username}, status_code=429)


@router.post("/login/code", dependencies=[Depends(check_csrf)])
def submit_code(
    request: Request, session: DbSession, settings: AppSettings,
    code: Annotated[str, Form(max_length=32)],
) -> Response:
    """Check the code; a right one starts the session."""
    pending = _pending_user(request, session)
    if pending is None:
        return _expired()
    user, next = pending
    try:
        method = totp.verify(session, settings, user=user, code=code,
                             client_ip=_client_ip(request))
    except YilianError as error:
        session.commit()  # a wrong code counts toward throttling and stays audited
        if error.status_code == 429:
            return _throttled(request, error, user=user, next=next)
        return render(request, "login_code.html",
                      {"error": error.message(current_language.get()),
                       "username": user.username},
                      status_code=error.status_code if error.status_code in (401, 429) else 400)
    _start_session(request, session, user=user, next=next, second_factor=method)
    return RedirectResponse(next, status_code=303)


@router.get("/login/enrol")
def enrol_page(request: Request, session: DbSession, settings: AppSettings) -> Response:
    """An administrator or clerk without an authenticator sets one up before going on."""
    pending = _pending_user(request, session)
    if pending is None:
        return _expired()
    user = pending[0]
    enrolment = totp.begin_enrolment(session, settings, user=user)
    return render(request, "totp_enrol.html",
                  {"enrolment": enrolment, "action": "/login/enrol", "error": None,
                   "required": True})


@router.post("/login/enrol", dependencies=[Depends(check_csrf)])
def confirm_enrolment_at_sign_in(
    request: Request, session: DbSession, settings: AppSettings,
    code: Annotated[str, Form(max_length=32)],
) -> Response:
    """Confirm the new authenticator with its first code; then the session starts and the
    recovery codes are shown once."""
    pending = _pending_user(request, session)
    if pending is None:
        return _expired()
    user, next = pending
    try:
        codes = totp.confirm_enrolment(session, settings, user=user, code=code,
                                       client_ip=_client_ip(request))
    except YilianError as error:
        session.commit()
        if error.status_code == 429:
            return _throttled(request, error, user=user, next=next)
        enrolment = (totp.pending_enrolment(session, settings, user=user)
                     or totp.begin_enrolment(session, settings, user=user))
        session.commit()
        return render(request, "totp_enrol.html",
                      {"enrolment": enrolment, "action": "/login/enrol", "required": True,
                       "error": error.message(current_language.get())},
                      status_code=error.status_code if error.status_code < 500 else 400)
    _start_session(request, session, user=user, next=next, second_factor="totp")
    request.state.principal = users.principal_for(session, user=user)  # the page's header
    return render(request, "totp_recovery_codes.html", {"codes": codes, "next": next})


@router.get("/account/two-factor")
def two_factor_page(
    request: Request, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> Response:
    """Whether two-factor sign-in is on for the signed-in user, and turning it on."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    return render(request, "totp_account.html", {
        "enrolled": totp.is_enrolled(session, user_id=user.id),
        "required": totp.required_for(settings, user),
        "left": totp.remaining_recovery_codes(session, user_id=user.id),
    })


@router.post("/account/two-factor", dependencies=[Depends(check_csrf)])
def start_two_factor(
    request: Request, principal: CurrentPrincipal, session: DbSession, settings: AppSettings
) -> Response:
    """A new secret for the signed-in user, shown once with its QR code."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    enrolment = totp.begin_enrolment(session, settings, user=user)
    return render(request, "totp_enrol.html",
                  {"enrolment": enrolment, "action": "/account/two-factor/confirm",
                   "error": None, "required": False})


@router.post("/account/two-factor/confirm", dependencies=[Depends(check_csrf)])
def confirm_two_factor(
    request: Request, principal: CurrentPrincipal, session: DbSession, settings: AppSettings,
    code: Annotated[str, Form(max_length=32)],
) -> Response:
    """Turn two-factor sign-in on with the first code; the recovery codes, once."""
    user = users.get(session, user_id=principal.user_id)
    assert user is not None
    try:
        codes = totp.confirm_enrolment(session, settings, user=user, code=code,
                                       client_ip=_client_ip(request))
    except YilianError as error:
        session.commit()
        if error.status_code == 429:
            raise
        enrolment = (totp.pending_enrolment(session, settings, user=user)
                     or totp.begin_enrolment(session, settings, user=user))
        session.commit()
        return render(request, "totp_enrol.html",
                      {"enrolment": enrolment, "action": "/account/two-factor/confirm",
                       "required": False, "error": error.message(current_language.get())},
                      status_code=error.status_code if error.status_code < 500 else 400)
    return render(request, "totp_recovery_codes.html", {"codes": codes, "next": "/"})


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, session: DbSession) -> Response:
    """End the session on the server too, so a copy of the cookie signs nobody in."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        users.end_web_session(session, token=sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
