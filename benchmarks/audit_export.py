"""Audit export throughput: a month of audit records written out as CSV and JSON Lines.

    PYTHONPATH=src python benchmarks/audit_export.py [--records 200000]
                                                     [--database URL of an empty database]

Fills an empty database (a SQLite file in a temporary folder by default) with RECORDS audit
rows spread over one month, then exports that month through the same code as
``yilian audit export`` (batches of 1,000 in id order) to a file in each format. Prints
records per second and the file size. Bounded by RECORDS.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from yilian import migrate
from yilian.audit import export
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.db import make_engine, make_sessionmaker, transaction


def fill(url: str, records: int) -> None:
    start = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 1 April, Beijing time
    step = timedelta(days=30) / records
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for first in range(0, records, 10_000):
                connection.execute(insert(AuditEvent), [
                    {"recorded_at": start + step * n, "actor": f"user{n % 500}",
                     "actor_user_id": n % 500, "actor_role": "clinician",
                     "actor_institution_id": n % 40, "action": "patient.read",
                     "entity_type": "patient", "entity_id": str(n), "institution_id": n % 40,
                     "patient_id": n % 20_000, "outcome": AuditOutcome.SUCCESS,
                     "client_ip": "10.0.0.1", "user_agent": "Mozilla/5.0", "request_id": "",
                     "detail": json.dumps({"fields": ["name", "phone"]})}
                    for n in range(first, min(first + 10_000, records))
                ])
    finally:
        engine.dispose()


def run(url: str, records: int, folder: Path) -> None:
    migrate.upgrade(url)
    started = time.perf_counter()
    fill(url, records)
    print(f"filled {records} records in {time.perf_counter() - started:.1f} s")
    engine = make_engine(url)
    try:
        factory = make_sessionmaker(engine)
        chosen = export.period(date(2026, 4, 1), date(2026, 4, 30), timezone="Asia/Shanghai")
        for fmt in export.ExportFormat:
            with transaction(factory) as session:
                fixed, count = export.start(session, chosen, fmt=fmt)
            target = folder / f"audit.{fmt.value}"
            started = time.perf_counter()
            with target.open("w", encoding="utf-8", newline="") as file:
                for chunk in export.lines(export.rows(factory, fixed), fmt):
                    file.write(chunk)
            seconds = time.perf_counter() - started
            print(f"{fmt.value:5}: {count} records in {seconds:.2f} s = "
                  f"{count / seconds:,.0f} records/s, {target.stat().st_size / 1e6:.1f} MB")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--database", default="")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = arguments.database or f"sqlite:///{Path(folder) / 'audit.db'}"
        run(url, arguments.records, Path(folder))


if __name__ == "__main__":
    main()
