"""Sign-in and sign-out pages (signed session cookie, CSRF-protected forms)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from yilian.auth import service as users
from yilian.deps import AppSettings, DbSession, check_csrf, csrf_token
from yilian.errors import YilianError
from yilian.webui import current_language, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a signed-in user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    csrf_token(request)
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password, then start a fresh session (no session fixation)."""
    try:
        user = users.authenticate(
            session,
            username=username,
            password=password,
            client_ip=request.client.host if request.client else "",
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
    request.session.clear()
    request.session["sid"] = users.start_web_session(
        session, user=user, client_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    request.session["ver"] = user.token_version
    csrf_token(request)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request, session: DbSession) -> Response:
    """End the session on the server too, so a copy of the cookie signs nobody in."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        users.end_web_session(session, token=sid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
