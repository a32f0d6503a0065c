"""Storing encounters from every channel: one at a time (FHIR, HL7 v2) or a whole history
file at once (CSV), each with its aggregate change in the same transaction.

Idempotency: an encounter is known by (institution, resource type, the sender's id). A
second intake of the same id updates the stored row and moves its counts (an admission
later discharged adds a discharge; a visit moved to another month moves its count); it
never adds a second row.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yilian.analytics import aggregates
from yilian.analytics.aggregates import Counted, beijing_month, patient_origin
from yilian.analytics.models import Encounter, EncounterKind
from yilian.analytics.schemas import EncounterCreate
from yilian.auth.permissions import Action, Principal, authorize
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.patients import service as patients
from yilian.patients.models import PatientRecord, Person
from yilian.registry import service as registry
from yilian.registry.models import Institution

RESOURCE_TYPES = ("Encounter", "Procedure")


@dataclass(frozen=True)
class Stored:
    """An encounter after intake, and whether it was new."""

    encounter: Encounter
    created: bool


@dataclass(frozen=True)
class Regions:
    """What the patient index tells about where the patient is insured and lives."""

    insured_region_code: str | None
    residence_region_code: str | None


def residence_of(record: PatientRecord) -> str | None:
    """The household region: the first six digits of the resident ID (GB 11643 地址码),
    read from its masked form so the number is never decrypted."""
    prefix = record.id_number_masked[:6]
    return prefix if len(prefix) == 6 and prefix.isdigit() else None


def regions_of(person: Person, *, institution_id: int) -> Regions:
    """Insured region and residence, preferring what the treating institution recorded."""
    records = sorted(person.records, key=lambda r: (r.institution_id != institution_id, r.id))
    insured = next((r.insured_region_code for r in records if r.insured_region_code), None)
    residence = next((code for r in records if (code := residence_of(r))), None)
    return Regions(insured, residence)


def check_kind(data: EncounterCreate) -> None:
    """A Procedure is a surgery; an Encounter is a visit or a stay."""
    if data.resource_type not in RESOURCE_TYPES:
        raise InvalidInput("invalid_resource_type", f"不支持的资源类型：{data.resource_type}",
                           f"Unsupported resource type: {data.resource_type}")
    if (data.resource_type == "Procedure") != (data.kind is EncounterKind.SURGERY):
        raise InvalidInput("kind_mismatch", "手术须以 Procedure 提交，就诊与住院以 Encounter 提交",
                           "Surgeries come as Procedure, visits and stays as Encounter")


def _department_check(session: Session, data: EncounterCreate) -> None:
    if data.department_id is None:
        return
    department = registry.get_department_or_raise(session, department_id=data.department_id)
    if department.institution_id != data.institution_id:
        raise InvalidInput("department_elsewhere", "科室不属于该机构",
                           "The department does not belong to that institution")


def _fill(encounter: Encounter, data: EncounterCreate, *, person: Person,
          institution: Institution) -> None:
    regions = regions_of(person, institution_id=institution.id)
    encounter.kind = data.kind
    encounter.status = data.status
    encounter.person_id = person.id
    encounter.department_id = data.department_id
    encounter.started_at = data.started_at
    encounter.ended_at = data.ended_at
    encounter.start_month = beijing_month(data.started_at)
    encounter.end_month = beijing_month(data.ended_at) if data.ended_at else None
    encounter.insured_region_code = regions.insured_region_code
    encounter.residence_region_code = regions.residence_region_code
    encounter.origin = patient_origin(regions.insured_region_code, institution.region_code)


def find(session: Session, *, institution_id: int, resource_type: str,
         source_id: str) -> Encounter | None:
    """The encounter a sender knows by this id, locked for the update that follows."""
    return session.scalar(select(Encounter).where(
        Encounter.institution_id == institution_id, Encounter.resource_type == resource_type,
        Encounter.source_id == source_id).with_for_update())


def record_encounter(session: Session, principal: Principal | None, *,
                     data: EncounterCreate) -> Stored:
    """Store (or update) one encounter and move the monthly counts with it."""
    if principal is not None:
        authorize(principal, Action.ENCOUNTER_WRITE, [data.institution_id])
    check_kind(data)
    institution = registry.get_institution_or_raise(session, institution_id=data.institution_id)
    _department_check(session, data)
    person = patients.current_person(session, person_id=data.person_id)
    if person is None:
        raise NotFound("患者", "Patient", data.person_id)
    stored = find(session, institution_id=institution.id, resource_type=data.resource_type,
                  source_id=data.source_id)
    before = Counted.of(stored) if stored is not None else None
    encounter = stored or Encounter(institution_id=institution.id,
                                    resource_type=data.resource_type, source_id=data.source_id)
    _fill(encounter, data, person=person, institution=institution)
    if stored is None:
        try:
            with session.begin_nested():  # a savepoint: the same id sent twice at once
                session.add(encounter)
                session.flush()
        except IntegrityError:
            raise Conflict("encounter_sent_concurrently",
                           f"就诊 {data.source_id} 正由另一请求同时写入，请重发",
                           f"Encounter {data.source_id} was being stored by another request "
                           "at the same moment; send it again") from None
    session.flush()
    aggregates.apply(session, aggregates.change(before, Counted.of(encounter)))
    return Stored(encounter, created=stored is None)


def _existing(session: Session, *, institution_id: int, resource_type: str,
              source_ids: list[str]) -> dict[str, Encounter]:
    found: dict[str, Encounter] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL: one array parameter (= ANY) keeps the unique index in use; a prepared
    # IN list of 1,000 parameters was planned as a scan (≈2 s a chunk at 250k rows).
    size = len(source_ids) if postgres else 500
    for start in range(0, len(source_ids), max(size, 1)):
        chunk = source_ids[start:start + max(size, 1)]
        ids = bindparam("source_ids", chunk, type_=ARRAY(String))
        wanted = Encounter.source_id == any_(ids) if postgres else Encounter.source_id.in_(chunk)
        found.update((e.source_id, e) for e in session.scalars(select(Encounter).where(
            Encounter.institution_id == institution_id,
            Encounter.resource_type == resource_type, wanted)))
    return found


@dataclass(frozen=True)
class BulkRow:
    """A validated encounter of a history file with what its person tells about regions."""

    data: EncounterCreate
    regions: Regions
    institution_region_code: str


def bulk_store(session: Session, rows: Iterable[BulkRow]) -> tuple[int, int]:
    """Store a whole validated file: new rows by one multi-row insert, known ones updated;
    the aggregate moved once for all. Returns (inserted, updated)."""
    by_key: dict[tuple[int, str], list[BulkRow]] = {}
    for row in rows:
        by_key.setdefault((row.data.institution_id, row.data.resource_type), []).append(row)
    deltas: aggregates.Deltas = {}
    new_rows: list[dict[str, object]] = []
    changed: list[dict[str, object]] = []
    now = utcnow()
    for (institution_id, resource_type), group in by_key.items():
        known = _existing(session, institution_id=institution_id, resource_type=resource_type,
                          source_ids=[r.data.source_id for r in group])
        for row in group:
            values = _values(row)
            data = row.data
            after = Counted(data.institution_id, data.department_id, data.kind, data.status,
                            beijing_month(data.started_at),
                            beijing_month(data.ended_at) if data.ended_at else None,
                            patient_origin(row.regions.insured_region_code,
                                           row.institution_region_code),
                            row.regions.insured_region_code)
            stored = known.get(row.data.source_id)
            aggregates.merge(deltas, aggregates.change(
                Counted.of(stored) if stored is not None else None, after))
            if stored is None:
                new_rows.append(values)
            else:
                changed.append({"id": stored.id, **values, "updated_at": now})
    # The file's one audit record (history.import_encounters) stands for these rows.
    if session.get_bind().dialect.name == "postgresql":
        _copy_postgresql(session, new_rows, changed, now=now)
    else:
        if new_rows:
            session.execute(insert(Encounter), new_rows)  # executemany
        if changed:
            session.execute(update(Encounter), changed)  # by primary key, executemany
    session.flush()
    inserted, updated = len(new_rows), len(changed)
    aggregates.apply(session, deltas)
    return inserted, updated


_COPY_COLUMNS = ("resource_type", "source_id", "kind", "status", "person_id", "institution_id",
                 "department_id", "started_at", "ended_at", "start_month", "end_month",
                 "insured_region_code", "residence_region_code", "origin", "created_at",
                 "updated_at")


def _copy_row(values: dict[str, object], now: datetime) -> tuple[object, ...]:
    row = {"created_at": now, "updated_at": now, **values}
    return tuple(v.value if isinstance(v, enum.Enum) else v
                 for v in (row[name] for name in _COPY_COLUMNS))


def _copy_postgresql(session: Session, new_rows: list[dict[str, object]],
                     changed: list[dict[str, object]], *, now: datetime) -> None:
    """PostgreSQL: COPY new rows straight in; COPY changed ones into a temporary table and
    update from it — one statement each instead of one per row."""
    columns = ", ".join(_COPY_COLUMNS)
    raw: Any = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        if new_rows:
            with cursor.copy(f"COPY encounter ({columns}) FROM STDIN") as copy:
                for values in new_rows:
                    copy.write_row(_copy_row(values, now))
        if changed:
            cursor.execute("CREATE TEMPORARY TABLE encounter_reimport "
                           "(LIKE encounter INCLUDING DEFAULTS) ON COMMIT DROP")
            with cursor.copy(f"COPY encounter_reimport (id, {columns}) FROM STDIN") as copy:
                for values in changed:
                    copy.write_row((values["id"], *_copy_row(values, now)))
            assignments = ", ".join(f"{name} = r.{name}" for name in _COPY_COLUMNS
                                    if name != "created_at")
            cursor.execute(f"UPDATE encounter e SET {assignments} "  # noqa: S608 (fixed names)
                           "FROM encounter_reimport r WHERE e.id = r.id")
            cursor.execute("DROP TABLE encounter_reimport")


def _values(row: BulkRow) -> dict[str, object]:
    data = row.data
    return {
        "resource_type": data.resource_type, "source_id": data.source_id, "kind": data.kind,
        "status": data.status, "person_id": data.person_id,
        "institution_id": data.institution_id, "department_id": data.department_id,
        "started_at": data.started_at, "ended_at": data.ended_at,
        "start_month": beijing_month(data.started_at),
        "end_month": beijing_month(data.ended_at) if data.ended_at else None,
        "insured_region_code": row.regions.insured_region_code,
        "residence_region_code": row.regions.residence_region_code,
        "origin": patient_origin(row.regions.insured_region_code, row.institution_region_code),
    }


__all__ = ["BulkRow", "Regions", "Stored", "bulk_store", "check_kind", "find",
           "record_encounter", "regions_of", "residence_of"]
