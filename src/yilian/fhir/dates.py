"""FHIR date search values: parsing with prefixes and precision, and matching them.

A value names a range of instants — ``2024`` is the whole year, ``2024-03-01T08:00`` one
minute — and its prefix says how a target relates to that range. A value written without
a time zone is read in China Standard Time (UTC+8), the network's local time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import QueryableAttribute

# The network's local time: dates written without a zone mean a day in Beijing.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
_DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")
_UNSUPPORTED_DATE_PREFIXES = ("ne", "sa", "eb", "ap")


class DateValueError(ValueError):
    """A date search value that cannot be read, with the reason in both languages."""

    def __init__(self, value: str, zh: str, en: str):
        super().__init__(en)
        self.value, self.zh, self.en = value, zh, en


def local_today() -> date:
    """Today in the network's local time."""
    return datetime.now(CHINA_STANDARD_TIME).date()


@dataclass(frozen=True)
class DateRange:
    """A date search value: its prefix and the instants it covers, [start, end)."""

    prefix: str
    start: datetime
    end: datetime


_DATE_PATTERN = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _zone(text: str | None) -> timezone:
    if text is None:
        return CHINA_STANDARD_TIME
    if text == "Z":
        return UTC
    sign = 1 if text[0] == "+" else -1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _range_of(match: re.Match[str]) -> tuple[datetime, datetime]:
    year = int(match["year"])
    zone = _zone(match["zone"])
    if match["month"] is None:
        return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=zone)
        following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return start, following
    day = datetime(year, month, int(match["day"]), tzinfo=zone)
    if match["hour"] is None:
        return day, day + timedelta(days=1)
    start = day.replace(hour=int(match["hour"]), minute=int(match["minute"]))
    if match["second"] is None:
        return start, start + timedelta(minutes=1)
    start = start.replace(second=int(match["second"]))
    if match["fraction"] is None:
        return start, start + timedelta(seconds=1)
    micro = int((match["fraction"][1:] + "000000")[:6])
    return start.replace(microsecond=micro), start.replace(microsecond=micro) + timedelta(
        microseconds=1
    )


def parse_date(value: str) -> DateRange:
    """A date search value with its prefix (eq when none), as a range of instants."""
    prefix, rest = ("eq", value)
    if value[:2] in _DATE_PREFIXES:
        prefix, rest = value[:2], value[2:]
    elif value[:2] in _UNSUPPORTED_DATE_PREFIXES:
        raise DateValueError(value, "仅支持前缀 eq、ge、gt、le、lt",
                             "only the prefixes eq, ge, gt, le, lt are supported")
    match = _DATE_PATTERN.match(rest)
    if match is None:
        raise DateValueError(value, "日期格式应为 YYYY[-MM[-DD[Thh:mm[:ss][Z|±hh:mm]]]]",
                             "expected YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]]")
    try:
        start, end = _range_of(match)
    except ValueError as exc:  # 2024-02-30, month 13, hour 25 …
        raise DateValueError(value, "日期不存在", "no such date") from exc
    return DateRange(prefix, start, end)


def instant_bounds(ranges: Iterable[DateRange]) -> tuple[datetime | None, datetime | None]:
    """The [since, until) window of instants matching every range (ANDed)."""
    since: datetime | None = None
    until: datetime | None = None
    for date_range in ranges:
        lower = {"eq": date_range.start, "ge": date_range.start, "gt": date_range.end}
        upper = {"eq": date_range.end, "le": date_range.end, "lt": date_range.start}
        if date_range.prefix in lower:
            bound = lower[date_range.prefix]
            since = bound if since is None else max(since, bound)
        if date_range.prefix in upper:
            bound = upper[date_range.prefix]
            until = bound if until is None else min(until, bound)
    return since, until


def _local_day(instant: datetime) -> date:
    return instant.astimezone(CHINA_STANDARD_TIME).date()


def period_condition(
    start_column: QueryableAttribute[date],
    end_column: QueryableAttribute[date | None],
    value: DateRange,
) -> ColumnElement[bool]:
    """Whether a period of whole days [start, end] (end NULL = open) matches a date value.

    FHIR's rules for ranges: ge/gt — the period reaches into the range above the value;
    le/lt — it reaches into the range below; eq — the value's range contains the period.
    """
    if value.prefix in ("ge", "gt"):
        first_day = _local_day(value.start if value.prefix == "ge" else value.end)
        return or_(end_column.is_(None), end_column >= first_day)
    if value.prefix == "le":
        return start_column <= _local_day(value.end - timedelta(microseconds=1))
    if value.prefix == "lt":
        return start_column <= _local_day(value.start - timedelta(microseconds=1))
    first_day = _local_day(value.start - timedelta(microseconds=1)) + timedelta(days=1)
    last_day = _local_day(value.end) - timedelta(days=1)
    return and_(start_column >= first_day, end_column.is_not(None), end_column <= last_day)


def open_period_matches(value: DateRange) -> bool:
    """Whether a period open at both ends matches: yes, except for eq (never contained)."""
    return value.prefix != "eq"
