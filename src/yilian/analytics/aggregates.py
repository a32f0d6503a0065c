"""The monthly aggregates: what each encounter adds to them, applying those changes in the
intake's own transaction, and rebuilding them from the raw rows (``yilian analytics refresh``).

Two aggregates move with every encounter: ``volume_month`` (per institution, department,
month and kind) and ``outflow_month`` (admissions per insured region, month and treating
department: the outflow metric's source).

Counting rules (the metric definitions repeat them for readers):
- an outpatient visit counts once, in the Beijing-time month it took place;
- an inpatient stay counts as an admission in the month of admission, and as a discharge
  in the month of discharge once it is finished;
- a surgery counts once, in the month of the operation;
- a cancelled encounter counts nowhere;
- for the outflow, an inpatient stay of a patient with a known insured region counts once,
  in the month of admission, under that insured region and the treating department.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, case, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yilian.analytics.models import (
    Encounter,
    EncounterKind,
    EncounterStatus,
    OutflowMonth,
    PatientOrigin,
    VolumeKind,
    VolumeMonth,
)
from yilian.registry.service import region_prefix

BEIJING = timezone(timedelta(hours=8))

# (institution_id, department_key, month, kind) -> [total, local, out_of_region, unknown]
Key = tuple[int, int, str, VolumeKind]


class OutflowKey(NamedTuple):
    """A bucket of ``outflow_month``; its delta list holds the admissions in slot 0."""

    insured_region_code: str
    month: str
    institution_id: int
    department_key: int


# Both aggregates' changes in one mapping, told apart by the key's type, so intake merges
# and applies them together.
Deltas = dict[Key | OutflowKey, list[int]]
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
    insured_region_code: str | None = None

    @classmethod
    def of(cls, encounter: Encounter) -> Counted:
        """The snapshot of a stored encounter."""
        return cls(encounter.institution_id, encounter.department_id, encounter.kind,
                   encounter.status, encounter.start_month, encounter.end_month,
                   encounter.origin, encounter.insured_region_code)


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


def outflow_entry(counted: Counted) -> OutflowKey | None:
    """The outflow bucket an encounter counts in: an admission whose insured region is known."""
    if (counted.kind is not EncounterKind.INPATIENT or counted.status is EncounterStatus.CANCELLED
            or not counted.insured_region_code):
        return None
    return OutflowKey(counted.insured_region_code, counted.start_month, counted.institution_id,
                      counted.department_id or 0)


def add_counted(deltas: Deltas, counted: Counted, sign: int) -> None:
    """Add (sign +1) or take away (−1) what an encounter counts."""
    for kind, month in volume_entries(counted):
        key = (counted.institution_id, counted.department_id or 0, month, kind)
        row = deltas.setdefault(key, [0, 0, 0, 0])
        row[0] += sign
        row[_ORIGIN_SLOT[counted.origin]] += sign
    outflow = outflow_entry(counted)
    if outflow is not None:
        deltas.setdefault(outflow, [0, 0, 0, 0])[0] += sign


def change(before: Counted | None, after: Counted | None) -> Deltas:
    """The aggregate change of one encounter going from ``before`` to ``after``."""
    deltas: Deltas = {}
    if before is not None:
        add_counted(deltas, before, -1)
    if after is not None:
        add_counted(deltas, after, +1)
    return deltas


def apply(session: Session, deltas: Mapping[Key | OutflowKey, list[int]]) -> None:
    """Add the changes to the aggregate in the session's transaction (an upsert per bucket,
    so concurrent intakes of the same month add up rather than overwrite)."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for key, counts in deltas.items():
        if not any(counts):
            continue
        if isinstance(key, OutflowKey):
            _apply_outflow(session, make, key, counts[0])
            continue
        institution_id, department_key, month, kind = key
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


def _apply_outflow(session: Session, make: Any, key: OutflowKey, admissions: int) -> None:
    statement = make(OutflowMonth).values(**key._asdict(), admissions=admissions)
    session.execute(statement.on_conflict_do_update(
        index_elements=list(OutflowKey._fields),
        set_={"admissions": OutflowMonth.admissions + statement.excluded.admissions}))


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
    refresh_outflow(session)
    session.flush()
    return session.scalar(select(func.count()).select_from(VolumeMonth)) or 0


def refresh_outflow(session: Session) -> int:
    """Rebuild ``outflow_month`` from the raw encounters, in SQL; the number of buckets."""
    session.execute(delete(OutflowMonth))
    department = func.coalesce(Encounter.department_id, 0)
    recount = (select(Encounter.insured_region_code, Encounter.start_month,
                      Encounter.institution_id, department, func.count())
               .where(Encounter.kind == EncounterKind.INPATIENT,
                      Encounter.status != EncounterStatus.CANCELLED,
                      Encounter.insured_region_code.is_not(None),
                      Encounter.insured_region_code != "")
               .group_by(Encounter.insured_region_code, Encounter.start_month,
                         Encounter.institution_id, department))
    session.execute(insert(OutflowMonth).from_select(
        [*OutflowKey._fields, "admissions"], recount))
    session.flush()
    return session.scalar(select(func.count()).select_from(OutflowMonth)) or 0


def recount_in_python(encounters: Iterable[Encounter]) -> dict[Key, tuple[int, int, int, int]]:
    """The aggregate computed row by row (for checks: it must equal what is stored)."""
    deltas: Deltas = defaultdict(lambda: [0, 0, 0, 0])
    for encounter in encounters:
        add_counted(deltas, Counted.of(encounter), +1)
    return {key: (c[0], c[1], c[2], c[3]) for key, c in deltas.items()
            if any(c) and not isinstance(key, OutflowKey)}


def recount_outflow_in_python(encounters: Iterable[Encounter]) -> dict[OutflowKey, int]:
    """The outflow aggregate computed row by row (for checks against ``outflow_month``)."""
    found: dict[OutflowKey, int] = defaultdict(int)
    for encounter in encounters:
        key = outflow_entry(Counted.of(encounter))
        if key is not None:
            found[key] += 1
    return dict(found)


__all__ = ["BEIJING", "Counted", "OutflowKey", "apply", "beijing_month", "change", "merge",
           "outflow_entry", "patient_origin", "recount_in_python", "recount_outflow_in_python",
           "refresh", "refresh_outflow", "volume_entries"]
