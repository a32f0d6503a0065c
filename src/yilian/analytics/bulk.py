"""Writing many already-checked encounters at once: generated history (the demo, the
benchmark), millions of rows where the one-by-one intake would take hours.

Rows are plain tuples in :data:`COLUMNS` order with Python values (enum values as their
strings, aware datetimes). PostgreSQL receives them by ``COPY … FROM STDIN``; SQLite by one
prepared ``INSERT`` executed many times per chunk, with timestamps converted exactly as the
ORM stores them. Nothing here touches the monthly aggregate: the caller rebuilds it
(``aggregates.refresh``) once all rows are in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from yilian.analytics.models import Encounter

COLUMNS = ("resource_type", "source_id", "kind", "status", "person_id", "institution_id",
           "department_id", "started_at", "ended_at", "start_month", "end_month",
           "insured_region_code", "residence_region_code", "origin", "created_at",
           "updated_at")
Row = tuple[Any, ...]
CHUNK = 20_000


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """One value in COPY's text format: ``\\N`` for NULL, ISO 8601 for instants."""
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).translate(_ESCAPES)


def _copy(session: Session, rows: Iterable[Row]) -> int:
    """COPY in text format, written a chunk at a time (far cheaper than a row at a time)."""
    raw: Any = session.connection().connection.driver_connection
    written = 0
    with raw.cursor() as cursor, cursor.copy(
            f"COPY encounter ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for chunk in _chunks(rows, CHUNK):
            copy.write("".join("\t".join(map(copy_text, row)) + "\n" for row in chunk))
            written += len(chunk)
    return written


def _timestamp_processors(session: Session) -> dict[int, Callable[[Any], Any]]:
    """Per timestamp column, the ORM's own conversion (UTC, then SQLite's text form)."""
    dialect = session.get_bind().dialect
    found: dict[int, Callable[[Any], Any]] = {}
    for index, name in enumerate(COLUMNS):
        column = Encounter.__table__.c[name]
        processor = column.type.bind_processor(dialect)
        if processor is not None and column.type.python_type is datetime:
            found[index] = processor
    return found


def _execute_many(session: Session, rows: Iterable[Row]) -> int:
    processors = _timestamp_processors(session)
    sql = (f"INSERT INTO encounter ({', '.join(COLUMNS)}) "  # noqa: S608 (fixed names)
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")
    connection = session.connection()
    written = 0
    constant: dict[tuple[int, datetime], Any] = {}
    for chunk in _chunks(rows, CHUNK):
        converted = []
        for row in chunk:
            values = list(row)
            for index, processor in processors.items():
                value = values[index]
                if value is None:
                    continue
                if index >= len(COLUMNS) - 2:  # created_at / updated_at: the same instant
                    key = (index, value)
                    if key not in constant:
                        constant[key] = processor(value)
                    values[index] = constant[key]
                else:
                    values[index] = processor(value)
            converted.append(tuple(values))
        connection.exec_driver_sql(sql, converted)
        written += len(converted)
    return written


def insert_encounters(session: Session, rows: Iterable[Row]) -> int:
    """Insert the rows in the session's transaction; how many were written."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy(session, rows)
    return _execute_many(session, rows)


__all__ = ["COLUMNS", "Row", "copy_text", "insert_encounters"]
