"""The monthly aggregate: what each encounter adds to it, applying those changes in the
intake's own transaction, and rebuilding it from the raw rows (``yilian analytics refresh``).

Counting rules (the metric definitions repeat them for readers):
- an outpatient visit counts once, in the Beijing-time month it took place;
- an inpatient stay counts as an admission in the month of admission, and as a discharge
  in the month of discharge once it is finished;
- a surgery counts once, in the month of the operation;
- a cancelled encounter counts nowhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yilian.analytics.models import (
    Encounter,
    EncounterKind,
    EncounterStatus,
    PatientOrigin,
    VolumeKind,
    VolumeMonth,
)
from yilian.registry.service import region_prefix

BEIJING = timezone(timedelta(hours=8))

# (institution_id, department_key, month, kind) -> [total, local, out_of_region, unknown]
Key = tuple[int, int, str, VolumeKind]
Deltas = dict[Key, list[int]]
_ORIGIN_SLOT = {PatientOrigin.LOCAL: 1, PatientOrigin.OUT_OF_REGION: 2, PatientOrigin.UNKNOWN: 3}


def beijing_month(instant: datetime) -> str:
    """The month (YYYY-MM) an instant falls in, Beijing time: how hospitals report volumes."""
    return instant.astimezone(BEIJING).strftime("%Y-%m")


def patient_origin(insured_region_code: str | None, institution_region_code: str) -> PatientOrigin:
    """Local when the patient's insured region contains the treating institution's region.

    # 医保 pooling: the insured region is a city (130600 保定) or a province-level city
    # (110000 北京); a patient of Baoding treated in 竞秀区 130602 is local, in 北京 is not.
    """
    if not insured_region_code:
        return PatientOrigin.UNKNOWN
    if institution_region_code.startswith(region_prefix(insured_region_code)):
        return PatientOrigin.LOCAL
    return PatientOrigin.OUT_OF_REGION


@dataclass(frozen=True)
class Counted:
    """What of an encounter the aggregate counts (a snapshot, taken before and after)."""

    institution_id: int
    department_id: int | None
    kind: EncounterKind
    status: EncounterStatus
    start_month: str
    end_month: str | None
    origin: PatientOrigin

    @classmethod
    def of(cls, encounter: Encounter) -> Counted:
        """The snapshot of a stored encounter."""
        return cls(encounter.institution_id, encounter.department_id, encounter.kind,
                   encounter.status, encounter.start_month, encounter.end_month,
                   encounter.origin)


def volume_entries(counted: Counted) -> list[tuple[VolumeKind, str]]:
    """The (kind, month) buckets one encounter counts in."""
    if counted.status is EncounterStatus.CANCELLED:
        return []
    if counted.kind is EncounterKind.OUTPATIENT:
        return [(VolumeKind.OUTPATIENT, counted.start_month)]
    if counted.kind is EncounterKind.SURGERY:
        return [(VolumeKind.SURGERY, counted.start_month)]
    entries = [(VolumeKind.ADMISSION, counted.start_month)]
    if counted.status is EncounterStatus.FINISHED and counted.end_month:
        entries.append((VolumeKind.DISCHARGE, counted.end_month))
    return entries


def add_counted(deltas: Deltas, counted: Counted, sign: int) -> None:
    """Add (sign +1) or take away (−1) what an encounter counts."""
    for kind, month in volume_entries(counted):
        key = (counted.institution_id, counted.department_id or 0, month, kind)
        row = deltas.setdefault(key, [0, 0, 0, 0])
        row[0] += sign
        row[_ORIGIN_SLOT[counted.origin]] += sign


def change(before: Counted | None, after: Counted | None) -> Deltas:
    """The aggregate change of one encounter going from ``before`` to ``after``."""
    deltas: Deltas = {}
    if before is not None:
        add_counted(deltas, before, -1)
    if after is not None:
        add_counted(deltas, after, +1)
    return deltas


def apply(session: Session, deltas: Mapping[Key, list[int]]) -> None:
    """Add the changes to the aggregate in the session's transaction (an upsert per bucket,
    so concurrent intakes of the same month add up rather than overwrite)."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for (institution_id, department_key, month, kind), counts in deltas.items():
        if not any(counts):
            continue
        total, local, out_of_region, unknown = counts
        statement = make(VolumeMonth).values(
            institution_id=institution_id, department_key=department_key, month=month,
            kind=kind, total=total, local=local, out_of_region=out_of_region,
            unknown_region=unknown)
        excluded = statement.excluded
        session.execute(statement.on_conflict_do_update(
            index_elements=["institution_id", "department_key", "month", "kind"],
            set_={"total": VolumeMonth.total + excluded.total,
                  "local": VolumeMonth.local + excluded.local,
                  "out_of_region": VolumeMonth.out_of_region + excluded.out_of_region,
                  "unknown_region": VolumeMonth.unknown_region + excluded.unknown_region}))


def merge(into: Deltas, more: Deltas) -> None:
    """Add ``more`` into ``into``."""
    for key, counts in more.items():
        row = into.setdefault(key, [0, 0, 0, 0])
        for index, value in enumerate(counts):
            row[index] += value


def _count(origin: PatientOrigin) -> ColumnElement[int]:
    return func.sum(case((Encounter.origin == origin, 1), else_=0))


def _recount(kind: VolumeKind, month: Any, *conditions: ColumnElement[bool]) -> Any:
    department = func.coalesce(Encounter.department_id, 0)
    return (select(Encounter.institution_id, department, month,
                   literal(kind.value, VolumeMonth.kind.type), func.count(),
                   _count(PatientOrigin.LOCAL), _count(PatientOrigin.OUT_OF_REGION),
                   _count(PatientOrigin.UNKNOWN))
            .where(Encounter.status != EncounterStatus.CANCELLED, *conditions)
            .group_by(Encounter.institution_id, department, month))


def refresh(session: Session) -> int:
    """Rebuild the whole aggregate from the raw encounters, in SQL; the number of buckets."""
    session.execute(delete(VolumeMonth))
    columns = ["institution_id", "department_key", "month", "kind", "total", "local",
               "out_of_region", "unknown_region"]
    recounts = [
        _recount(VolumeKind.OUTPATIENT, Encounter.start_month,
                 Encounter.kind == EncounterKind.OUTPATIENT),
        _recount(VolumeKind.SURGERY, Encounter.start_month,
                 Encounter.kind == EncounterKind.SURGERY),
        _recount(VolumeKind.ADMISSION, Encounter.start_month,
                 Encounter.kind == EncounterKind.INPATIENT),
        _recount(VolumeKind.DISCHARGE, Encounter.end_month,
                 Encounter.kind == EncounterKind.INPATIENT,
                 Encounter.status == EncounterStatus.FINISHED,
                 Encounter.end_month.is_not(None)),
    ]
    for recount in recounts:
        session.execute(insert(VolumeMonth).from_select(columns, recount))
    session.flush()
    return session.scalar(select(func.count()).select_from(VolumeMonth)) or 0


def recount_in_python(encounters: Iterable[Encounter]) -> dict[Key, tuple[int, int, int, int]]:
    """The aggregate computed row by row (for checks: it must equal what is stored)."""
    deltas: Deltas = defaultdict(lambda: [0, 0, 0, 0])
    for encounter in encounters:
        add_counted(deltas, Counted.of(encounter), +1)
    return {key: (c[0], c[1], c[2], c[3]) for key, c in deltas.items() if any(c)}


__all__ = ["BEIJING", "Counted", "apply", "beijing_month", "change", "merge",
           "patient_origin", "recount_in_python", "refresh", "volume_entries"]
