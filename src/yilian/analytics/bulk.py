"""Writing many already-checked encounters at once: generated history (the demo, the
benchmark), millions of rows where the one-by-one intake would take hours.

Rows are plain tuples in :data:`COLUMNS` order with Python values (enum values as their
strings, aware datetimes). PostgreSQL receives them by ``COPY … FROM STDIN``; SQLite by one
prepared ``INSERT`` executed many times per chunk, with timestamps converted exactly as the
ORM stores them (each distinct one once). Nothing here touches the monthly aggregate: the
caller rebuilds it (``aggregates.refresh``) once all rows are in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

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


_INSTANTS = tuple(index for index, name in enumerate(COLUMNS) if name.endswith("_at"))


def _execute_many(session: Session, rows: Iterable[Row]) -> int:
    """One prepared INSERT per chunk. SQLite's CHECK constraints (the enum columns) are
    switched off meanwhile: they cost more than the insert itself, and these rows carry
    enum values by construction. Instants repeat (history is drawn to the minute), so each
    distinct one is converted once."""
    sql = (f"INSERT INTO encounter ({', '.join(COLUMNS)}) "  # noqa: S608 (fixed names)
           f"VALUES ({', '.join('?' for _ in COLUMNS)})")
    connection = session.connection()
    written = 0
    converted_instants: dict[datetime, str] = {}
    connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    try:
        for chunk in _chunks(rows, CHUNK):
            converted = []
            for row in chunk:
                values = list(row)
                for index in _INSTANTS:
                    value = values[index]
                    if value is None:
                        continue
                    text = converted_instants.get(value)
                    if text is None:
                        text = converted_instants[value] = _sqlite_text(value)
                    values[index] = text
                converted.append(tuple(values))
            connection.exec_driver_sql(sql, converted)
            written += len(converted)
    finally:
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
    return written


def _sqlite_text(value: datetime) -> str:
    """An instant as the ORM stores it on SQLite: in UTC (``UTCDateTime``), written by the
    sqlite3 module's default adapter (ISO 8601 with a space)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given; Yilian stores aware UTC timestamps only")
    return value.astimezone(UTC).isoformat(" ")


def insert_encounters(session: Session, rows: Iterable[Row]) -> int:
    """Insert the rows in the session's transaction; how many were written."""
    if session.get_bind().dialect.name == "postgresql":
        return _copy(session, rows)
    return _execute_many(session, rows)


__all__ = ["COLUMNS", "Row", "copy_text", "insert_encounters"]
