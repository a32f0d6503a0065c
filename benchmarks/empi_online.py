"""Online registration latency of the patient index against a large stored population.

    python benchmarks/empi_online.py --records 1000000 [--registrations 300] [--database URL]

Stores RECORDS synthetic source records (about a third as many people; resident IDs and
phones encrypted, as the service stores them) with bulk inserts, then registers held-out
records one by one through `patients.service.register_record`, each in its own committed
transaction, as the API does, and prints p50/p95/max milliseconds. The yardstick, measured
in the same run on the same database, is a bare transaction inserting one audit row and
reading one row by key: the ratio says how much linking costs beyond touching the database.
Before timing, the tables and indexes are read once, as a server in steady state holds them
in memory; `--cold` skips that and then the first touch of each page (disk reads) dominates
the tail.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from yilian import migrate
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import make_engine, make_sessionmaker, utcnow
from yilian.patients import matching, resident_id, service, synthetic
from yilian.patients.features import address_key, name_pinyin, normalise_name, normalise_phone
from yilian.patients.linkage import DEFAULT_MODEL_PATH, scorer_for
from yilian.patients.models import LinkMethod, PatientRecord, Person, Sex
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry
from yilian.registry.models import InstitutionKind, RegionLevel
from yilian.registry.schemas import InstitutionCreate, RegionCreate

SOURCES = tuple(f"H{number:02d}" for number in range(20))
FIELD_KEY = "YmVuY2htYXJrLWZpZWxkLWtleS0zMi1ieXRlcyEhISE="


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--database", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--cold", action="store_true",
                        help="skip reading the tables once first (a server just started)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{Path(folder) / 'empi.db'}"
        settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key="x" * 40)
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        records = synthetic.generate(args.records + args.registrations, sources=SOURCES, seed=3)
        stored, held_out = records[: args.records], records[args.records :]
        started = time.perf_counter()
        with sessions() as session:
            institutions = _institutions(session)
            _bulk_store(session, settings, stored, institutions)
            session.commit()
        stored_count = len(stored)
        print(f"stored {stored_count:,} records in {time.perf_counter() - started:.1f} s")
        # A server does not hold the stored population in memory; this script did, and
        # the garbage collector walking a million objects would be charged to registrations.
        del records, stored
        gc.collect()
        if not args.cold:
            _warm(sessions)
        yardstick = _yardstick(sessions, args.registrations)
        scorer_for(DEFAULT_MODEL_PATH)  # compiled once at start-up, as `yilian serve` does
        timings, outcomes = [], {}
        for record in held_out:
            begin = time.perf_counter()
            with sessions() as session:
                made = service.register_record(
                    session, settings, None, data=_create(record, institutions)
                )
                session.commit()
            timings.append((time.perf_counter() - begin) * 1000)
            outcomes[made.outcome.value] = outcomes.get(made.outcome.value, 0) + 1
        engine.dispose()
    timings.sort()
    p50, p95 = statistics.median(timings), timings[int(len(timings) * 0.95) - 1]
    print(f"online registration against {stored_count:,} stored records "
          f"({args.registrations} registrations): p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {timings[-1]:.1f} ms; outcomes {outcomes}")
    print(f"yardstick (one-row transaction): p95 {yardstick:.2f} ms; "
          f"registration p95 = {p95 / yardstick:.1f} × yardstick")
    return 0


def _institutions(session: Session) -> dict[str, int]:
    registry.create_region(session, data=RegionCreate(
        code="130000", name="河北省", level=RegionLevel.PROVINCE))
    made = {}
    for code in SOURCES:
        made[code] = registry.create_institution(session, data=InstitutionCreate(
            code=code, name=f"基准医院{code}", region_code="130000", level=2,
            kind=InstitutionKind.GENERAL_HOSPITAL)).id
    session.flush()
    return made


def _bulk_store(
    session: Session,
    settings: Settings,
    records: list[synthetic.SyntheticRecord],
    institutions: dict[str, int],
) -> None:
    """Insert people and records directly (as a migration from an old index would)."""
    cipher = cipher_from_settings(settings)
    people: dict[str, int] = {}
    person_rows, record_rows, held_ids = [], [], set()
    now = utcnow()
    for record in records:
        person_id = people.setdefault(record.person_key, len(people) + 1)
        number = resident_id.parse(record.id_number).number if record.id_number else None
        id_hash = cipher.blind_index(matching.ID_FIELD, number) if number else None
        if person_id > len(person_rows):
            person_rows.append({"id": person_id, "name": record.name, "sex": Sex.UNKNOWN,
                                "birth_date": record.birth_date, "id_number_hash": None,
                                "created_at": now, "updated_at": now})
        if id_hash and id_hash not in held_ids:
            person_rows[person_id - 1]["id_number_hash"] = id_hash
            held_ids.add(id_hash)
        name = normalise_name(record.name) or ""
        surname_py, full_py = name_pinyin(name) if name else ("", "")
        phone = normalise_phone(record.phone)
        record_rows.append({
            "institution_id": institutions[record.source], "local_id": record.local_id,
            "person_id": person_id, "name": name,
            "sex": Sex(record.sex) if record.sex else Sex.UNKNOWN,
            "birth_date": record.birth_date or (
                date.fromisoformat(f"{number[6:10]}-{number[10:12]}-{number[12:14]}")
                if number else None),
            "id_number_cipher": cipher.encrypt(matching.ID_FIELD, number) if number else None,
            "id_number_hash": id_hash,
            "id_number_masked": resident_id.mask(number) if number else "",
            "phone_cipher": cipher.encrypt(matching.PHONE_FIELD, phone) if phone else None,
            "phone_hash": cipher.blind_index(matching.PHONE_FIELD, phone) if phone else None,
            "address": record.address or "", "flags": [], "name_py": full_py or None,
            "surname_py": surname_py or None, "address_key": address_key(record.address),
            "link_method": LinkMethod.NEW_PERSON, "linked_at": now, "created_at": now,
            "updated_at": now,
        })
    for start in range(0, len(person_rows), 50_000):
        session.execute(insert(Person), person_rows[start : start + 50_000])
    for start in range(0, len(record_rows), 50_000):
        session.execute(insert(PatientRecord), record_rows[start : start + 50_000])
        print(f"\r  {start + 50_000:,} records", end="", file=sys.stderr)
    print(file=sys.stderr)
    if session.get_bind().dialect.name == "postgresql":  # explicit ids left the sequence at 1
        session.execute(text("SELECT setval(pg_get_serial_sequence('person', 'id'), "
                             "(SELECT max(id) FROM person))"))
    session.execute(text("ANALYZE"))


def _warm(sessions: object) -> None:
    """Read the patient tables and their indexes once, as a server in steady state has."""
    with sessions() as session:  # type: ignore[operator]
        for column in ("name_py", "birth_date", "phone_hash", "id_number_hash", "person_id"):
            session.execute(text(f"SELECT count({column}) FROM patient_record"))  # noqa: S608
        session.execute(text("SELECT count(*), sum(length(name)) FROM patient_record"))
        session.execute(text("SELECT count(*), sum(length(name)) FROM person"))
    print("page cache warmed: tables and indexes read once (--cold to skip)")


def _create(record: synthetic.SyntheticRecord, institutions: dict[str, int]) -> RecordCreate:
    return RecordCreate(
        institution_id=institutions[record.source], local_id=f"NEW-{record.local_id}",
        name=record.name, sex=Sex(record.sex) if record.sex else Sex.UNKNOWN,
        birth_date=record.birth_date, id_number=record.id_number, phone=record.phone,
        address=record.address or "",
    )


def _yardstick(sessions: object, repeat: int) -> float:
    """p95 ms of a bare transaction: read one record by key, append one audit row, commit."""
    factory = sessions  # a sessionmaker
    timings = []
    for number in range(repeat):
        begin = time.perf_counter()
        with factory() as session:  # type: ignore[operator]
            session.scalar(select(PatientRecord.id).where(PatientRecord.id == number + 1))
            session.execute(insert(AuditEvent).values(
                recorded_at=utcnow(), actor="bench", action="bench", outcome=AuditOutcome.SUCCESS))
            session.commit()
        timings.append((time.perf_counter() - begin) * 1000)
    timings.sort()
    return timings[int(len(timings) * 0.95) - 1]


if __name__ == "__main__":
    raise SystemExit(main())
