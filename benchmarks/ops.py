"""Backup, restore and key rotation on a database of RECORDS patients.

    python benchmarks/ops.py --records 100000 [--database URL] [--batch-size 500]

Stores RECORDS patient records (one person each; resident IDs and phones encrypted, as the
service stores them) with bulk inserts into a fresh database (a temporary SQLite file, or
the given PostgreSQL URL, which is emptied first), then times `db backup`, `db verify`,
`db restore` into a second database and `keys rotate` (the re-encryption of 2 x RECORDS
values), and prints seconds and rows or values per second for each. The PostgreSQL
databases (yilian_bench_ops, yilian_bench_ops_restored) are dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from yilian import backup, keys, migrate
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import is_sqlite, make_engine, make_sessionmaker, utcnow
from yilian.patients import matching
from yilian.patients.models import LinkMethod, PatientRecord, Person, Sex
from yilian.registry import service as registry
from yilian.registry.models import InstitutionKind, RegionLevel
from yilian.registry.schemas import InstitutionCreate, RegionCreate

CHUNK = 5000


def seed(url: str, settings: Settings, records: int) -> None:
    cipher = cipher_from_settings(settings)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            registry.create_region(session, data=RegionCreate(
                code="130000", name="河北省", level=RegionLevel.PROVINCE))
            institution_id = registry.create_institution(session, data=InstitutionCreate(
                code="BENCH", name="基准医院", region_code="130000", level=2,
                kind=InstitutionKind.GENERAL_HOSPITAL)).id
            session.commit()
        now = utcnow()
        for start in range(0, records, CHUNK):
            people, rows = [], []
            for number in range(start, min(records, start + CHUNK)):
                id_number = f"130730198001{number % 28 + 1:02d}{number:04d}"[:18]
                phone = f"139{number:08d}"
                people.append({"id": number + 1, "name": "张伟", "sex": Sex.MALE,
                               "birth_date": date(1980, 1, 1), "created_at": now,
                               "updated_at": now})
                rows.append({
                    "id": number + 1, "institution_id": institution_id,
                    "local_id": f"B{number}", "person_id": number + 1, "name": "张伟",
                    "sex": Sex.MALE, "birth_date": date(1980, 1, 1),
                    "id_number_cipher": cipher.encrypt(matching.ID_FIELD, id_number),
                    "id_number_hash": cipher.blind_index(matching.ID_FIELD, id_number),
                    "phone_cipher": cipher.encrypt(matching.PHONE_FIELD, phone),
                    "phone_hash": cipher.blind_index(matching.PHONE_FIELD, phone),
                    "flags": [], "link_method": LinkMethod.NEW_PERSON, "linked_at": now,
                    "created_at": now, "updated_at": now,
                })
            with engine.begin() as connection:
                connection.execute(insert(Person), people)
                connection.execute(insert(PatientRecord), rows)
        if not is_sqlite(url):
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('person', 'id'), "
                    "(SELECT max(id) FROM person))")
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('patient_record', 'id'), "
                    "(SELECT max(id) FROM patient_record))")
    finally:
        engine.dispose()


def fresh_postgres(url: str, name: str, *, drop_only: bool = False) -> str:
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(
        hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop_only:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--database", default="", help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--batch-size", type=int, default=500)
    arguments = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="yilian-ops-bench-"))
    key_file = folder / "fieldkey"
    key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    if arguments.database:
        source = fresh_postgres(arguments.database, "yilian_bench_ops")
        target = make_url(source).set(database="yilian_bench_ops_restored").render_as_string(
            hide_password=False)
        fresh_postgres(arguments.database, "yilian_bench_ops_restored")
    else:
        source, target = f"sqlite:///{folder / 'source.db'}", f"sqlite:///{folder / 'r.db'}"
    migrate.upgrade(source)
    settings = Settings(database_url=source, field_key=None, field_keys=None,
                        field_key_file=key_file, secret_key="bench" * 10)
    started = time.perf_counter()
    seed(source, settings, arguments.records)
    print(f"seeded {arguments.records} records in {time.perf_counter() - started:.1f} s")

    def timed(label: str, work: Callable[[], object], count: int, unit: str) -> None:
        began = time.perf_counter()
        work()
        seconds = time.perf_counter() - began
        print(f"{label:<12} {seconds:7.2f} s  {count / seconds:10.0f} {unit}/s")

    archive = folder / "bench.backup"
    rows = 2 * arguments.records
    timed("backup", lambda: backup.backup(source, archive), rows, "rows")
    print(f"{'archive':<12} {archive.stat().st_size / 1e6:7.1f} MB")
    timed("verify", lambda: backup.verify(archive), rows, "rows")
    timed("restore", lambda: backup.restore(target, archive), rows, "rows")
    keys.install_new_key(settings)
    engine = make_engine(source)
    factory = make_sessionmaker(engine)
    timed("keys rotate", lambda: keys.reencrypt(
        factory, lambda: cipher_from_settings(settings), batch_size=arguments.batch_size),
        rows, "values")
    engine.dispose()
    if arguments.database:
        for name in ("yilian_bench_ops", "yilian_bench_ops_restored"):
            fresh_postgres(arguments.database, name, drop_only=True)


if __name__ == "__main__":
    main()
