"""Analytics benchmark: dashboard API calls over millions of encounters on PostgreSQL.

    python benchmarks/analytics.py [--encounters 10000000] [--calls 30] [--incremental 10000]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep]

Builds a dedicated database (``yilian_bench_analytics``, dropped first), migrates it and
loads the Jing-Jin-Ji demo network without its encounter history (the registry, the
patients and the logins), then bulk-generates ENCOUNTERS encounters with ``COPY``: every
institution of the network with its departments (the Baoding children's hospital five
times as busy as the rest), the months 2014-05 … 2025-12, 90 % outpatient visits, 7 %
stays, 3 % surgeries, patients of the index with their insured region and residence.

It prints:

1. the refresh (``aggregates.refresh``: the monthly aggregate rebuilt from the raw rows);
2. each dashboard call of :data:`ENDPOINTS` through HTTP against ``yilian``'s app under
   uvicorn (one worker, a bearer token of the demo analyst): the first call in a fresh
   server process (cold), then p50/p95 over CALLS calls (warm);
3. yardsticks, measured in the same run: the same aggregation as the region call as one raw
   SQL ``GROUP BY`` over the raw rows on PostgreSQL, and with DuckDB over the same rows
   (exported to Parquet first; only the query is timed);
4. the incremental refresh: a history file of INCREMENTAL new encounters through
   ``history.import_encounters``, which moves the aggregate in its own transaction.

Targets: every dashboard call ≤ 300 ms p95 at 10 M encounters; incremental ≤ 5 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from yilian import demo, migrate
from yilian.analytics import aggregates, history
from yilian.analytics.aggregates import BEIJING, patient_origin
from yilian.analytics.bulk import COLUMNS
from yilian.analytics.models import VolumeMonth
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients.models import PatientRecord
from yilian.registry.models import Department, Institution

DATABASE = "yilian_bench_analytics"
PASSWORD = "Bench-2026-analytics"  # noqa: S105 - a scratch database
FIELD_KEY = "YmVuY2gtZmllbGQta2V5LTMyLWJ5dGVzLWxvbmchISE="
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105
FIRST_MONTH, MONTHS = (2014, 5), 140  # 2014-05 … 2025-12
BUSY = "BCH-BD"
REGION = "130600"  # Baoding
PERIOD = ("2025-01", "2025-12")

# The dashboard calls timed: (label, path with {placeholders} of the run's ids). Add more
# as the dashboards grow; each is timed cold and warm.
ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("volumes, Baoding region", "/api/v1/analytics/volumes?region=130600&from=2025-01&to=2025-12"),
    ("volumes, BCH-BD with baseline",
     "/api/v1/analytics/volumes?institution_id={busy}&from=2025-01&to=2025-12"),
    ("volumes, BCH-BD by department",
     "/api/v1/analytics/volumes?institution_id={busy}&by=department&from=2025-01&to=2025-12"),
    ("overview, Baoding region",
     "/api/v1/analytics/overview?region=130600&from=2025-01&to=2025-12"),
    ("institution page, BCH-BD", "/api/v1/analytics/institutions/{busy}?from=2025-01&to=2025-12"),
    ("outflow, Baoding", "/api/v1/analytics/outflow?region=130600&from=2025-01&to=2025-12"),
    ("referral flows", "/api/v1/analytics/referrals?region=130600&from=2025-01&to=2025-12"),
    ("agreement network", "/api/v1/analytics/network?region=130600"),
    ("programme counts", "/api/v1/analytics/programme"),
)
TARGET_P95_MS = 300.0
TARGET_INCREMENTAL_S = 5.0


def fresh_database(admin_url: str) -> str:
    """An empty migrated database for the run."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def drop_database(admin_url: str) -> None:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def settings(url: str) -> Settings:
    return Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET,
                    demo_history_scale=0)


def load_network(url: str) -> None:
    """The demo network without its history: registry, patients, logins."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        demo.load(session, settings(url), password=PASSWORD)
        session.commit()
    engine.dispose()


class Generator:
    """Encounter rows as COPY text, drawn from the network's institutions and patients."""

    def __init__(self, engine: Engine, seed: int = 2026) -> None:
        self.rng = random.Random(seed)
        with make_sessionmaker(engine)() as session:
            institutions = session.execute(select(Institution.id, Institution.code,
                                                  Institution.region_code)).all()
            departments: dict[int, list[int]] = {}
            for department_id, institution_id in session.execute(
                    select(Department.id, Department.institution_id)):
                departments.setdefault(institution_id, []).append(department_id)
            records = session.execute(select(PatientRecord.person_id,
                                             PatientRecord.insured_region_code,
                                             PatientRecord.id_number_masked)).all()
        self.institutions = [(i, region, departments[i]) for i, code, region in institutions
                             if i in departments]
        self.weights = [5.0 if code == BUSY else 1.0 for i, code, _ in institutions
                        if i in departments]
        patients: dict[int, tuple[str, str]] = {}
        for person_id, insured, masked in records:
            residence = masked[:6] if masked[:6].isdigit() else ""
            patients.setdefault(person_id, (insured or "", residence))
        self.patients = list(patients.items())
        self.origins: dict[tuple[str, str], str] = {}
        self.months = []
        for step in range(MONTHS):
            index = FIRST_MONTH[0] * 12 + FIRST_MONTH[1] - 1 + step
            year, month = index // 12, index % 12 + 1
            start = datetime(year, month, 1, tzinfo=BEIJING).astimezone(UTC)
            self.months.append((f"{year:04d}-{month:02d}", start))
        self.now = datetime.now(UTC).isoformat()

    def _origin(self, insured: str, region: str) -> str:
        key = (insured, region)
        if key not in self.origins:
            self.origins[key] = patient_origin(insured or None, region).value
        return self.origins[key]

    def _instants(self, month_start: datetime, count: int = 400) -> list[tuple[str, ...]]:
        """Random instants of one month as (start, stay's end, its month, surgery's end,
        its month) in COPY text: drawn once per month, then reused (10 M rows would spend
        most of their time formatting datetimes otherwise)."""
        made = []
        for _ in range(count):
            started = month_start + timedelta(minutes=self.rng.randrange(27 * 24 * 60))
            stay = started + timedelta(days=self.rng.randint(2, 12))
            operation = started + timedelta(minutes=90)
            made.append((started.isoformat(), stay.isoformat(),
                         stay.astimezone(BEIJING).strftime("%Y-%m"), operation.isoformat(),
                         operation.astimezone(BEIJING).strftime("%Y-%m")))
        return made

    def lines(self, count: int, prefix: str) -> Any:
        """``count`` rows as tab-separated COPY lines, in chunks of bytes."""
        rng, chunk = self.rng, 50_000
        instants = [(month, self._instants(start)) for month, start in self.months]
        places = [(str(i), region, [str(d) for d in departments])
                  for i, region, departments in self.institutions]
        patients = [(str(person_id), insured, insured or "\\N", residence or "\\N")
                    for person_id, (insured, residence) in self.patients]
        for first in range(0, count, chunk):
            size = min(chunk, count - first)
            chosen = rng.choices(places, weights=self.weights, k=size)
            kinds = rng.choices(("outpatient", "inpatient", "surgery"), (90, 7, 3), k=size)
            people = rng.choices(patients, k=size)
            months = rng.choices(instants, k=size)
            out = []
            for offset in range(size):
                institution_id, region, departments = chosen[offset]
                kind = kinds[offset]
                person_id, insured, insured_text, residence = people[offset]
                month, times = months[offset]
                started, stay, stay_month, operation, operation_month = times[
                    int(rng.random() * len(times))]
                if kind == "outpatient":
                    ended, end_month = "\\N", "\\N"
                elif kind == "inpatient":
                    ended, end_month = stay, stay_month
                else:
                    ended, end_month = operation, operation_month
                out.append("\t".join((
                    "Procedure" if kind == "surgery" else "Encounter",
                    f"{prefix}{first + offset:010d}", kind, "finished", person_id,
                    institution_id, departments[int(rng.random() * len(departments))],
                    started, ended, month, end_month, insured_text, residence,
                    self._origin(insured, region), self.now, self.now)))
            yield ("\n".join(out) + "\n").encode()


def bulk_load(engine: Engine, generator: Generator, count: int) -> tuple[float, float]:
    """COPY ``count`` generated encounters in, the way a bulk load is done: foreign-key
    triggers off (the rows are valid by construction) and the plain indexes built after
    the rows are in. Seconds for the COPY, and for the indexes and statistics."""
    started = time.perf_counter()
    with engine.begin() as connection:
        indexes = connection.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'encounter' "
            "AND indexname LIKE 'ix_%'")).all()
        for name, _ in indexes:
            connection.execute(text(f'DROP INDEX "{name}"'))
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                f"COPY encounter ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for block in generator.lines(count, "B"):
                copy.write(block)
    copied = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for _, definition in indexes:
            connection.execute(text(definition))
        connection.execute(text("VACUUM ANALYZE encounter"))
    return copied, time.perf_counter() - started


def refresh(engine: Engine) -> tuple[float, int]:
    started = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        buckets = aggregates.refresh(session)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE volume_month"))
    return time.perf_counter() - started, buckets


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    """uvicorn on loopback, one worker, in its own process."""
    import socket

    env = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": SECRET,
           "YILIAN_FIELD_KEY": FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
           # a throwaway database: its administrators sign in with a password alone
           "YILIAN_TOTP_REQUIRED": "false",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "uvicorn", "--factory", "yilian.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "warning",
         "--no-access-log"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client:
    """One keep-alive connection with the analyst's token."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.token = ""

    def call(self, method: str, path: str, form: str = "") -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if form:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=form or None, headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000

    def sign_in(self, username: str) -> None:
        status, body, _ = self.call("POST", "/api/v1/auth/token",
                                    form=f"username={username}&password={PASSWORD}")
        assert status == 200, body
        self.token = json.loads(body)["access_token"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def time_endpoints(url: str, calls: int, ids: dict[str, int]) -> list[tuple[str, float, float,
                                                                              float, int]]:
    """(label, cold ms, warm p50, warm p95, rows answered) per endpoint."""
    port = free_port()
    server = start_server(url, port)
    figures = []
    try:
        client = Client(port)
        client.sign_in("analyst")
        client.call("GET", "/api/v1/auth/me")  # the process and its pool awake, no analytics
        for label, template in ENDPOINTS:
            path = template.format(**ids)
            status, body, cold = client.call("GET", path)
            assert status == 200, body[:300]
            rows = len(json.loads(body).get("rows", []))
            warm = [client.call("GET", path)[2] for _ in range(calls)]
            figures.append((label, cold, percentile(warm, 0.5), percentile(warm, 0.95), rows))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return figures


def region_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.scalars(select(Institution.id).where(
            Institution.region_code.like(REGION[:4] + "%"))))


YARDSTICK_SQL = """
SELECT institution_id, kind, start_month, count(*),
       sum(CASE WHEN origin = 'local' THEN 1 ELSE 0 END),
       sum(CASE WHEN origin = 'out_of_region' THEN 1 ELSE 0 END)
FROM encounter
WHERE status <> 'cancelled' AND institution_id IN ({ids})
  AND start_month BETWEEN '{first}' AND '{last}'
GROUP BY institution_id, kind, start_month
"""


def postgres_yardstick(engine: Engine, ids: list[int], repeats: int = 3) -> tuple[float, int]:
    """Best of ``repeats`` runs of the raw GROUP BY (ms), and its rows."""
    sql = YARDSTICK_SQL.format(ids=", ".join(map(str, ids)), first=PERIOD[0], last=PERIOD[1])
    timings, rows = [], 0
    with engine.connect() as connection:
        for _ in range(repeats):
            started = time.perf_counter()
            rows = len(connection.execute(text(sql)).all())
            timings.append((time.perf_counter() - started) * 1000)
    return min(timings), rows


def duckdb_yardstick(engine: Engine, ids: list[int], folder: Path,
                     repeats: int = 3) -> tuple[float, float, int]:
    """Export the rows to Parquet (seconds), then the best query time (ms) and its rows."""
    csv_path, parquet = folder / "encounter.csv", folder / "encounter.parquet"
    started = time.perf_counter()
    with engine.connect() as connection, csv_path.open("wb") as out:
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(
                "COPY (SELECT institution_id, kind, status, start_month, origin FROM encounter) "
                "TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                out.write(block)
    database = duckdb.connect()
    database.execute(f"COPY (SELECT * FROM read_csv('{csv_path}')) "  # noqa: S608 (our file)
                     f"TO '{parquet}' (FORMAT parquet)")
    exported = time.perf_counter() - started
    csv_path.unlink()
    sql = YARDSTICK_SQL.replace("FROM encounter", f"FROM read_parquet('{parquet}')").format(
        ids=", ".join(map(str, ids)), first=PERIOD[0], last=PERIOD[1])
    timings, rows = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        rows = len(database.execute(sql).fetchall())
        timings.append((time.perf_counter() - started) * 1000)
    database.close()
    return exported, min(timings), rows


def history_file(engine: Engine, count: int) -> str:
    """A history CSV of ``count`` new outpatient visits at the institutions that registered
    the demo's patients, in 2025."""
    with engine.connect() as connection:
        records = connection.execute(
            select(Institution.code, PatientRecord.local_id)
            .join(Institution, Institution.id == PatientRecord.institution_id)).all()
    rng = random.Random(7)
    run = int(time.time()) % 10**8  # new sender ids each run: a --reuse run imports anew
    lines = [",".join(history.COLUMNS)]
    for number in range(count):
        code, local_id = rng.choice(records)
        lines.append(f"{code},,{local_id},I{run:08d}{number:07d},outpatient,finished,"
                     f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:30,")
    return "\n".join(lines) + "\n"


def incremental(engine: Engine, count: int) -> tuple[float, int]:
    """Import the file in one transaction (rows and aggregate); seconds, and how many visits
    the aggregate gained."""
    text_ = history_file(engine, count)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        before = session.scalar(select(func.sum(VolumeMonth.total))) or 0
    started = time.perf_counter()
    with sessions() as session:
        history.import_encounters(session, text=text_)
        session.commit()
    seconds = time.perf_counter() - started
    with sessions() as session:
        after = session.scalar(select(func.sum(VolumeMonth.total))) or 0
    return seconds, int(after - before)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--encounters", type=int, default=10_000_000)
    parser.add_argument("--calls", type=int, default=30, help="warm calls per endpoint")
    parser.add_argument("--incremental", type=int, default=10_000)
    parser.add_argument("--admin-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true",
                        help="time the calls on the database a --keep run left (no load)")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.reuse:
        url = make_url(args.admin_url).set(database=DATABASE).render_as_string(
            hide_password=False)
        migrate.upgrade(url)  # the kept database may predate this code's migrations
        engine = make_engine(url)
        print(f"analytics benchmark on the kept {DATABASE} (no load, calls only)")
    else:
        url = fresh_database(args.admin_url)
        load_network(url)
        engine = make_engine(url)
        print(f"analytics benchmark: {args.encounters:,} encounters, PostgreSQL, loopback "
              f"(network loaded in {time.perf_counter() - started:.0f} s)")
    try:
        if not args.reuse:
            copied, indexed = bulk_load(engine, Generator(engine), args.encounters)
            print(f"bulk load: COPY {copied:.1f} s = {args.encounters / copied:,.0f} rows/s; "
                  f"indexes and VACUUM ANALYZE after it {indexed:.1f} s")
            seconds, buckets = refresh(engine)
            print(f"refresh (aggregate rebuilt from raw rows): {seconds:.1f} s, "
                  f"{buckets:,} buckets")
        with make_sessionmaker(engine)() as session:
            busy = session.scalar(select(Institution.id).where(Institution.code == BUSY))
        ids = region_ids(engine)
        print(f"dashboard calls over HTTP (cold = first call in a fresh server process; warm "
              f"= {args.calls} calls; target p95 ≤ {TARGET_P95_MS:.0f} ms):")
        for label, cold, p50, p95, rows in time_endpoints(url, args.calls, {"busy": busy or 0}):
            verdict = "ok" if p95 <= TARGET_P95_MS else "MISSED"
            print(f"  {label:<32} cold {cold:7.1f} ms  warm p50 {p50:6.1f} ms  "
                  f"p95 {p95:6.1f} ms  ({rows} rows)  {verdict}")
        pg_ms, pg_rows = postgres_yardstick(engine, ids)
        print(f"yardstick: the region call's aggregation as one raw GROUP BY "
              f"({len(ids)} institutions, {PERIOD[0]} … {PERIOD[1]}):")
        print(f"  PostgreSQL over raw rows   {pg_ms:8.1f} ms ({pg_rows} groups)")
        if not args.reuse:
            with tempfile.TemporaryDirectory() as folder:
                exported, duck_ms, duck_rows = duckdb_yardstick(engine, ids, Path(folder))
            print(f"  DuckDB over Parquet        {duck_ms:8.1f} ms ({duck_rows} groups; "
                  f"export {exported:.1f} s, not timed in the query)")
        seconds, gained = incremental(engine, args.incremental)
        verdict = "ok" if seconds <= TARGET_INCREMENTAL_S else "MISSED"
        print(f"incremental: {args.incremental:,} new encounters by history file, rows and "
              f"aggregate in one transaction: {seconds:.2f} s (target ≤ "
              f"{TARGET_INCREMENTAL_S:.0f} s) {verdict}; aggregate +{gained:,}")
        print(f"targets: dashboard p95 ≤ {TARGET_P95_MS:.0f} ms, incremental ≤ "
              f"{TARGET_INCREMENTAL_S:.0f} s; total run {time.perf_counter() - started:.0f} s")
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            drop_database(args.admin_url)


if __name__ == "__main__":
    main()
