"""Languages of the web UI: Chinese first, English second.

Templates and code mark English source strings with ``_()``; the Chinese catalogue lives in
``locale/zh/LC_MESSAGES/messages.po`` (Babel). Catalogues are compiled in memory at start-up,
so there is no stale ``.mo`` file to forget.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from starlette.requests import Request

LANGUAGES: Final = ("zh", "en")
LOCALE_DIR: Final = Path(__file__).parent / "locale"
LANGUAGE_COOKIE: Final = "yilian_lang"


@lru_cache
def translations(language: str) -> NullTranslations:
    """Gettext translations for a language; English is the source text."""
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def request_language(request: Request, default: str) -> str:
    """The reader's language: ``?lang=``, then the cookie, then the configured default.

    The browser's Accept-Language is ignored on purpose: many hospital PCs run English
    Windows, and the UI is Chinese first unless the user switches.
    """
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked in LANGUAGES:
        return asked
    return default if default in LANGUAGES else "zh"


# Display names of enum values, Chinese and English, registered by the capability owning
# the enum (see registry/labels.py). Keyed by the enum member itself.
_LABELS: dict[object, tuple[str, str]] = {}


def register_labels(labels: dict[Any, tuple[str, str]]) -> None:
    """Make enum members displayable in both languages."""
    _LABELS.update(labels)


def label(value: object, language: str) -> str:
    """The display name of an enum member (or the value itself when none is registered)."""
    names = _LABELS.get(value)
    if names is None:
        return str(getattr(value, "value", value))
    return names[1] if language == "en" else names[0]
