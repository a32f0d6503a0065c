"""Reading the curated CSV tables shipped beside this module.

Each table is a plain UTF-8 CSV a reviewer can open in a spreadsheet. Empty cells mean
"not given"; a ``note`` column, where present, documents where a row comes from and is
never read by the loader.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import date
from importlib import resources

Row = Mapping[str, str]


def read(name: str) -> list[Row]:
    """The rows of ``name`` (a CSV file of this package), cells stripped of blanks."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return [
        {key: (value or "").strip() for key, value in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def optional(row: Row, column: str) -> str | None:
    """The cell, or None when it is empty."""
    return row[column] or None


def optional_date(row: Row, column: str) -> date | None:
    """The cell as an ISO date, or None when it is empty."""
    value = row[column]
    return date.fromisoformat(value) if value else None


def split(row: Row, column: str) -> list[str]:
    """A ``;``-separated cell as a list (empty cell: empty list)."""
    return [part.strip() for part in row[column].split(";") if part.strip()]


def grouped(rows: list[Row], column: str) -> Iterator[tuple[str, list[Row]]]:
    """Rows grouped by the value of one column, in first-seen order."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[column], []).append(row)
    yield from groups.items()
