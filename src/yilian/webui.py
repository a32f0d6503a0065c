"""Server-rendered pages: the Jinja2 environment, the reader's language, and ``render``.

Templates live in each capability's ``templates/`` folder (namespaced by a sub-folder of
the capability's name) and in the shared ``yilian/templates``. Pages use htmx for partial
updates; every form carries the session's CSRF token.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from yilian import __version__, i18n
from yilian.auth.permissions import ROLE_NAMES, Action, Principal, is_allowed
from yilian.deps import csrf_token

PACKAGE_DIR = Path(__file__).parent
current_language: ContextVar[str] = ContextVar("current_language", default="zh")


def _gettext(message: str) -> str:
    return i18n.translations(current_language.get()).gettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return i18n.translations(current_language.get()).ngettext(singular, plural, count)


def _label(value: object) -> str:
    return i18n.label(value, current_language.get())


def build_environment() -> Environment:
    """One Jinja environment over the shared and every capability's templates."""
    capability_folders = sorted(p for p in PACKAGE_DIR.glob("*/templates") if p.is_dir())
    folders = [PACKAGE_DIR / "templates", *capability_folders]
    env = Environment(
        loader=FileSystemLoader([str(folder) for folder in folders]),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["label"] = _label
    env.globals["version"] = __version__
    env.globals["Action"] = Action
    return env


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page for the request's user in their language."""
    env: Environment = request.app.state.templates
    principal: Principal | None = getattr(request.state, "principal", None)
    language = current_language.get()
    role_name = ""
    if principal is not None:
        zh, en = ROLE_NAMES[principal.role]
        role_name = en if language == "en" else zh
    csrf = csrf_token(request)

    def can(action: Action, institution_id: int | None = None) -> bool:
        if principal is None:
            return False
        return is_allowed(
            principal, action, None if institution_id is None else [institution_id]
        )

    values = {
        "request": request,
        "principal": principal,
        "role_name": role_name,
        "lang": language,
        "csrf_token": csrf,
        "can": can,
        "path": request.url.path,
    }
    values.update(context or {})
    html = env.get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code)
