"""Rendering a signed-in page: the shared frame needs the user's institution."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from yilian import i18n
from yilian.auth.permissions import Principal
from yilian.registry import service as registry
from yilian.webui import current_language, render

FLASH_KEY = "flash"


def gettext(message: str) -> str:
    """``message`` (English source text) in the reader's language."""
    return i18n.translations(current_language.get()).gettext(message)


def N_(message: str) -> str:
    """Mark a message for translation later, when it is shown (gettext_noop)."""
    return message


def flash(request: Request, message: str) -> None:
    """Keep a one-time notice (an English msgid) for the next page the user sees."""
    request.session[FLASH_KEY] = message


def render_page(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page of the signed-in UI: the header shows the user's institution."""
    principal: Principal | None = getattr(request.state, "principal", None)
    my_institution = None
    if principal is not None and principal.institution_id is not None:
        my_institution = registry.get_institution(session, institution_id=principal.institution_id)
    notice = request.session.pop(FLASH_KEY, None)
    values: dict[str, Any] = {
        "my_institution": my_institution,
        "notice": gettext(notice) if isinstance(notice, str) else None,
    }
    values.update(context or {})
    return render(request, template, values, status_code=status_code)
