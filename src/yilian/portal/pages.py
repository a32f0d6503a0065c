"""Rendering a signed-in page (the shared frame needs the user's institution), and the
paging and htmx plumbing every list page shares."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse

from yilian import i18n
from yilian.auth.permissions import Principal
from yilian.registry import service as registry
from yilian.validation import describe_validation_errors
from yilian.webui import current_language, render

FLASH_KEY = "flash"
PAGE_SIZE = 25


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


def form_errors(
    error: ValidationError, field_names: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """A form's validation errors: one summary line and a message per field, in the reader's
    language; ``field_names`` gives each field's English msgid for the summary."""
    _, _, details = describe_validation_errors(error.errors())
    english = current_language.get() == "en"
    by_field: dict[str, str] = {}
    for detail in details:
        field = str(detail["field"])
        by_field.setdefault(field, detail["message_en"] if english else detail["message_zh"])
    separator = "; " if english else "；"
    summary = separator.join(
        f"{gettext(field_names.get(field, field))}{': ' if english else '：'}{message}"
        for field, message in by_field.items()
    )
    return summary, by_field


# ---------------------------------------------------------------- list pages


def query_string(values: dict[str, Any]) -> str:
    """A URL query of the filters that are set, in a stable order."""
    return urlencode(
        [(key, value.value if isinstance(value, Enum) else value)
         for key, value in values.items() if value not in (None, "")]
    )


def page_number(raw: str | None) -> int:
    """The page asked for in a query value; anything but a positive number is page 1."""
    try:
        number = int(raw) if raw else 1
    except ValueError:
        return 1
    return max(number, 1)


@dataclass(frozen=True)
class Pager:
    """Where a page sits in a long list, with links to its neighbours (see ui.pager)."""

    page: int
    pages: int
    total: int
    first_row: int
    last_row: int
    previous_url: str | None
    next_url: str | None


def pager(
    path: str, filters: dict[str, Any], page: int, total: int, *, page_size: int = PAGE_SIZE
) -> Pager:
    """The pager of page ``page`` of ``total`` rows, its links keeping the filters."""
    pages = max(1, math.ceil(total / page_size))

    def url(number: int) -> str:
        query = query_string({**filters, "page": number if number > 1 else None})
        return f"{path}?{query}" if query else path

    return Pager(
        page=page,
        pages=pages,
        total=total,
        first_row=min(total, (page - 1) * page_size + 1),
        last_row=min(total, page * page_size),
        previous_url=url(page - 1) if page > 1 else None,
        next_url=url(page + 1) if page < pages else None,
    )


def is_results_request(request: Request) -> bool:
    """An htmx request that wants only the results fragment (not a history restore)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-target") == "results"
        and headers.get("hx-history-restore-request") != "true"
    )


def vary(response: HTMLResponse) -> HTMLResponse:
    """Full page and fragment share a URL: caches must keep them apart."""
    response.headers["Vary"] = "HX-Request, HX-Target"
    return response
