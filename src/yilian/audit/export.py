"""Export of the audit trail for a period, as CSV or JSON Lines, for inspectors and archives.

The trail is kept in the database (never deleted by the application; the retention period
is ``Settings.audit_retention_days``, at least 180 days). An export reads it in id order,
a batch at a time, so a year of records streams in constant memory. It covers the records
that existed when it started: the export's own audit record (``audit.export``) and anything
written meanwhile are left for the next one.

Periods are calendar days in the platform's time zone (``scheduling_timezone``, Beijing
time by default), both ends included; times in the file are UTC (ISO 8601).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from yilian.audit import service as audit
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.errors import InvalidInput

BATCH = 1000
COLUMNS = (
    "id", "recorded_at", "actor", "actor_user_id", "actor_role", "actor_institution_id",
    "action", "entity_type", "entity_id", "institution_id", "patient_id", "outcome",
    "client_ip", "user_agent", "request_id", "detail",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection);
# usernames typed at the sign-in page and user agents come from outside.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(enum.StrEnum):
    """File formats of an export."""

    CSV = "csv"
    JSONL = "jsonl"


MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8",
               ExportFormat.JSONL: "application/x-ndjson"}


@dataclass(frozen=True)
class Period:
    """The records recorded at or after ``since`` and before ``until`` (UTC), up to id
    ``upto_id`` (the last record when the export started)."""

    first_day: date
    last_day: date
    since: datetime
    until: datetime
    upto_id: int = 0


def period(first_day: date, last_day: date, *, timezone: str) -> Period:
    """The instants of whole calendar days ``first_day`` to ``last_day`` in ``timezone``."""
    if last_day < first_day:
        raise InvalidInput("bad_period", "结束日期不能早于开始日期",
                           "The last day must not be before the first day")
    zone = ZoneInfo(timezone)
    return Period(
        first_day, last_day,
        since=datetime.combine(first_day, time.min, zone),
        until=datetime.combine(last_day + timedelta(days=1), time.min, zone),
    )


def start(session: Session, chosen: Period, *, fmt: ExportFormat) -> tuple[Period, int]:
    """Fix the export to the records existing now, and audit it; the period and its count.

    The audit record is added to ``session``: it lands when that transaction commits.
    """
    upto = session.scalar(select(func.max(AuditEvent.id))) or 0
    fixed = Period(chosen.first_day, chosen.last_day, chosen.since, chosen.until, upto)
    count = session.scalar(
        select(func.count(AuditEvent.id)).where(*_conditions(fixed))
    ) or 0
    audit.record(session, action="audit.export", entity_type="audit_event",
                 detail={"from": chosen.first_day.isoformat(), "to": chosen.last_day.isoformat(),
                         "format": fmt.value, "records": count, "upto_id": upto})
    return fixed, count


def _conditions(chosen: Period) -> list[Any]:
    return [AuditEvent.recorded_at >= chosen.since, AuditEvent.recorded_at < chosen.until,
            AuditEvent.id <= chosen.upto_id]


def rows(factory: sessionmaker[Session], chosen: Period) -> Iterator[dict[str, Any]]:
    """The period's records in id order, read a batch at a time in short transactions."""
    after = 0
    while True:
        with factory() as session:
            batch = session.execute(
                select(*_COLUMNS).where(*_conditions(chosen), AuditEvent.id > after)
                .order_by(AuditEvent.id).limit(BATCH)
            ).all()
            found = [_as_dict(row._asdict()) for row in batch]
        if not found:
            return
        yield from found
        after = found[-1]["id"]


_COLUMNS = [getattr(AuditEvent, column) for column in COLUMNS]  # plain rows: no ORM objects


def _as_dict(values: dict[str, Any]) -> dict[str, Any]:
    values["recorded_at"] = values["recorded_at"].isoformat()
    values["outcome"] = AuditOutcome(values["outcome"]).value
    return values


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def lines(records: Iterator[dict[str, Any]], fmt: ExportFormat) -> Iterator[str]:
    """The file's text, a chunk at a time: CSV (UTF-8 with BOM, so Excel reads Chinese;
    formula-like cells prefixed with ') or JSON Lines (one record per line, unchanged)."""
    if fmt is ExportFormat.JSONL:
        for record in records:
            detail = record["detail"]
            yield json.dumps({**record, "detail": _parsed(detail)}, ensure_ascii=False) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(COLUMNS)
    for number, record in enumerate(records, start=1):
        writer.writerow([_safe_cell(record[column]) for column in COLUMNS])
        if number % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _parsed(detail: str) -> Any:
    if not detail:
        return None
    try:
        return json.loads(detail)
    except ValueError:
        return detail
