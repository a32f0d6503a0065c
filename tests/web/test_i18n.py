"""Every string the UI shows has a Chinese translation, and every enum value a label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from yilian import i18n
from yilian.registry import labels

SOURCE = Path(i18n.__file__).parent
CATALOGUE = SOURCE / "locale" / "zh" / "LC_MESSAGES" / "messages.po"


def used_msgids() -> Iterator[tuple[str, str]]:
    """(msgid, where) for every string marked with _(), ngettext() or N_()."""
    sources = [("python", path) for path in sorted(SOURCE.rglob("*.py"))] + [
        ("jinja2", path) for path in sorted(SOURCE.glob("**/templates/**/*.html"))
    ]
    for method, path in sources:
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        for lineno, message, _comments, _context in extract_from_file(
            method, str(path), options=options
        ):
            ids = message if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    yield msgid, f"{path.relative_to(SOURCE)}:{lineno}"


def _translations(message: Message | None) -> list[str]:
    if message is None or message.string is None:
        return []
    return [message.string] if isinstance(message.string, str) else list(message.string)


def test_every_message_has_a_chinese_translation() -> None:
    with CATALOGUE.open("rb") as po_file:
        catalogue = read_po(po_file, locale="zh")
    found = list(used_msgids())
    assert len(found) > 100  # the extraction really ran over templates and code
    # a plural message is stored under its singular; its plural form counts as known too
    plurals = {message.id[1]: message for message in catalogue if isinstance(message.id, tuple)}

    missing = [
        f"{where}: {msgid}"
        for msgid, where in found
        if not all(_translations(catalogue.get(msgid) or plurals.get(msgid)) or [False])
    ]
    assert missing == []


def test_translations_keep_their_placeholders() -> None:
    with CATALOGUE.open("rb") as po_file:
        catalogue = read_po(po_file, locale="zh")
    for message in catalogue:
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        placeholders = sorted(part.split(")")[0] for part in source.split("%(")[1:])
        for string in _translations(message):
            assert sorted(part.split(")")[0] for part in string.split("%(")[1:]) == (
                placeholders), source


@pytest.mark.parametrize("names", labels.ALL_LABELS)
def test_every_enum_member_has_both_labels(names: dict[object, tuple[str, str]]) -> None:
    enum_type = type(next(iter(names)))
    assert set(names) == set(enum_type)  # type: ignore[call-overload]
    for member in enum_type:  # type: ignore[attr-defined]
        zh, en = names[member]
        assert zh and en
        assert i18n.label(member, "zh") == zh
        assert i18n.label(member, "en") == en


def test_a_plain_level_number_finds_its_label() -> None:
    assert i18n.label(3, "zh") == "三级"
    assert i18n.label(1, "en") == "Level 1"
