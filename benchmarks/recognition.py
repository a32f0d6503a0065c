"""Recognition-check latency against a large shared results index on PostgreSQL.

    python benchmarks/recognition.py [--results 10000000] [--checks 2000] [--threads 2]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep | --reuse]
        [--http-workers 2] [--no-http]

Builds a dedicated database (``yilian_bench_recognition``, dropped first), migrates it, loads
the Jing-Jin-Ji catalogue and 60 institutions with HR qualifications through the services,
then generates RESULTS diagnostic reports in bulk with ``generate_series`` (one person per 20
results, items and performers spread over the catalogue and network, performed over the
last 400 days, 1 % corrections), with one value per lab report and one imaging study per
exam report. ``--keep`` keeps that database; ``--reuse`` times it again (after applying any
new migration) without building.

It prints, for random patients and two random items per check:

1. the plan: the SQL statements one check issues and PostgreSQL's EXPLAIN ANALYZE of each;
2. service level: ``results.service.check`` called in process, each check in its own
   transaction, p50/p95/p99 and checks/s on one thread, then ``--threads`` at once — without
   a signed-in user (``principal=None``: no permission check, no patient-visibility query,
   no audit record), and with a clinician (what the API does: visibility and an audit row
   per check, committed);
3. HTTP level: ``POST /api/v1/recognition/check`` against ``yilian serve`` with
   ``--http-workers`` uvicorn processes, a bearer token, ``--threads`` client threads with
   keep-alive connections. Client and server share the machine's cores: on a small machine
   this figure is a lower bound of what a server alone would answer.

The yardstick, measured in the same run on the same database, is a one-row primary-key
select of a report in its own transaction.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import requests
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from yilian import migrate
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.auth.service import get_by_username, principal_for
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry
from yilian.registry.models import InstitutionGrade, InstitutionKind, RegionLevel
from yilian.registry.schemas import InstitutionCreate, RegionCreate
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import DiagnosticReport, HrScope, RecognitionItem
from yilian.results.schemas import CheckRead, CheckRequest, QualificationCreate

DATABASE = "yilian_bench_recognition"
INSTITUTIONS = 60
RESULTS_PER_PERSON = 20
SCOPES = (HrScope.NATIONAL, HrScope.PROVINCE, HrScope.CITY, HrScope.CONSORTIUM)
REGIONS = (("110000", "北京市", RegionLevel.PROVINCE, None),
           ("110100", "市辖区", RegionLevel.CITY, "110000"),
           ("110102", "西城区", RegionLevel.COUNTY, "110100"),
           ("130000", "河北省", RegionLevel.PROVINCE, None),
           ("130700", "张家口市", RegionLevel.CITY, "130000"),
           ("130730", "怀来县", RegionLevel.COUNTY, "130700"))


def _database(admin_url: str) -> str:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)


def _network(sessions: sessionmaker[Session]) -> tuple[int, list[str]]:
    """Regions, institutions, catalogue and qualifications; institution count and codes."""
    rng = random.Random(7)
    with sessions() as session:
        for code, name, level, parent in REGIONS:
            registry.create_region(session, data=RegionCreate(
                code=code, name=name, name_en=name, level=level, parent_code=parent))
        catalogue.load_jingjinji(session)
        groups = sorted({item.item_group for item in results.list_items(session)})
        for number in range(INSTITUTIONS):
            institution = registry.create_institution(session, data=InstitutionCreate(
                code=f"B{number:03d}", name=f"基准医院{number}", region_code=rng.choice(
                    ("110102", "130730")), level=rng.choice((1, 2, 3)),
                grade=InstitutionGrade.A, kind=InstitutionKind.GENERAL_HOSPITAL))
            for group in rng.sample(groups, k=len(groups) * 2 // 3):
                results.create_qualification(session, data=QualificationCreate(
                    institution_id=institution.id, item_group=group,
                    scope=rng.choice(SCOPES), valid_from=date(2025, rng.randint(1, 12), 1),
                    valid_to=date(2027, 12, 31)))
        codes = [item.code for item in results.list_items(session)]
        session.commit()
    return INSTITUTIONS, codes


def _bulk_results(engine: Engine, count: int) -> None:
    """People and results generated inside PostgreSQL (no row crosses the wire)."""
    people = max(count // RESULTS_PER_PERSON, 1)
    steps = [
        ("people", f"""
            INSERT INTO person (id, status, name, sex, created_at, updated_at)
            SELECT g, 'active', '患者' || g, CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
                   now(), now()
            FROM generate_series(1, {people}) AS g"""),  # noqa: S608 - integers only
        ("results", f"""
            INSERT INTO diagnostic_report (id, person_id, institution_id, department_name,
                item_code, category, accession, performed_at, issued_at, status, conclusion,
                supersedes_id, received_at)
            SELECT g, 1 + (hashint % {people}), 1 + (hashint / 7 % {INSTITUTIONS}), '',
                   item.code, item.category, 'A' || g,
                   now() - make_interval(mins => (hashint / 13 % (400 * 1440))::int),
                   now(), 'final', '', NULL, now()
            FROM (SELECT g, (hashint4(g)::bigint & 2147483647) AS hashint
                  FROM generate_series(1, {count}) g) s
            JOIN (SELECT code, category, row_number() OVER (ORDER BY code) - 1 AS n,
                         count(*) OVER () AS total FROM recognition_item) item
              ON item.n = s.hashint / 3 % item.total"""),  # noqa: S608 - integers only
        ("corrections", """
            UPDATE diagnostic_report SET status = 'corrected', supersedes_id = id - 1
            WHERE id % 100 = 0"""),
        ("values", """
            INSERT INTO observation (report_id, sequence, code, code_system, name, value,
                value_number, unit, reference_range, abnormal_flag)
            SELECT id, 1, '718-7', 'LN', '血红蛋白', '128', 128, 'g/L', '115-150', 'N'
            FROM diagnostic_report WHERE category = 'lab'"""),
        ("images", """
            INSERT INTO imaging_study (report_id, study_uid, modality, body_site, viewer_url)
            SELECT id, '1.2.156.' || id, 'CT', '', '' FROM diagnostic_report
            WHERE category = 'exam'"""),
        ("sequences", """
            SELECT setval('person_id_seq', (SELECT max(id) FROM person));
            SELECT setval('diagnostic_report_id_seq', (SELECT max(id) FROM diagnostic_report))
            """),
        ("analyse", "ANALYZE"),
    ]
    with engine.connect() as connection:
        connection.exec_driver_sql("SET session_replication_role = replica")  # no FK triggers
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for name, statement in steps:
            started = time.perf_counter()
            for part in statement.split(";"):
                if part.strip():
                    connection.exec_driver_sql(part.replace("%", "%%"))  # psycopg paramstyle
            connection.commit()
            print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)


BENCH_USER, BENCH_PASSWORD = "bench.doctor", "Bench@2026-check"
BENCH_FIELD_KEY = "YmVuY2gtZmllbGQta2V5LTMyLWJ5dGVzLWxvbmchISE="


def _clinician(engine: Engine, sessions: sessionmaker[Session]) -> int:
    """A clinician at the first institution, who holds a record of every benchmark person
    (so the visibility check passes as it would for the patient's own hospital)."""
    with sessions() as session:
        institution = session.scalar(text("SELECT id FROM institution ORDER BY id LIMIT 1"))
        code = session.scalar(text("SELECT code FROM institution WHERE id = :i"),
                              {"i": institution})
        if get_by_username(session, username=BENCH_USER) is None:
            users.create(session, username=BENCH_USER, password=BENCH_PASSWORD,
                         role=Role.CLINICIAN, institution_code=code)
            session.commit()
    with engine.connect() as connection:
        if not connection.exec_driver_sql(
                "SELECT 1 FROM patient_record WHERE local_id LIKE 'BENCH%%' LIMIT 1").first():
            connection.exec_driver_sql(f"""
                INSERT INTO patient_record (institution_id, local_id, person_id, name, sex,
                    id_number_masked, address, flags, link_method, linked_at, created_at,
                    updated_at)
                SELECT {int(institution)}, 'BENCH' || id, id, name, sex, '', '', '[]',
                    'new_person', now(), now(), now() FROM person""")  # noqa: S608
            connection.exec_driver_sql("ANALYZE patient_record")
            connection.commit()
    return int(institution)


def _percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)

    def at(share: float) -> float:
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1000

    return (f"p50 {at(0.50):.2f} ms  p95 {at(0.95):.2f} ms  p99 {at(0.99):.2f} ms  "
            f"mean {statistics.fmean(ordered) * 1000:.2f} ms")


def _timed(sessions: sessionmaker[Session], work: Callable[[Session], object],
           repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        with sessions() as session:
            work(session)
            session.rollback()
        timings.append(time.perf_counter() - started)
    return timings


def _explain(engine: Engine, work: Callable[[Session], object],
             sessions: sessionmaker[Session]) -> None:
    """The statements one check issues, and PostgreSQL's plan of each."""
    statements: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any,
               _many: bool) -> None:
        statements.append((statement, parameters))

    with sessions() as session:  # a warm copy of the reference data first
        work(session)
        session.rollback()
    event.listen(engine, "before_cursor_execute", record)
    try:
        with sessions() as session:
            work(session)
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    print(f"statements per check: {len(statements)}")
    with engine.connect() as connection:
        for statement, parameters in statements:
            print("  " + " ".join(statement.split())[:160] + " …")
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                plan = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                                  parameters).scalars()
                lines = [line for line in plan if "Index" in line or "Seq Scan" in line
                         or "Time" in line]
                for line in lines:
                    print("      " + line.strip())
        connection.rollback()


def _in_threads(threads: int, count: int, work: Callable[[], float]) -> tuple[list[float], float]:
    per_thread = max(count // threads, 1)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        timings = [t for batch in pool.map(
            lambda _: [work() for _ in range(per_thread)], range(threads)) for t in batch]
    return timings, time.perf_counter() - started


def _report(label: str, timings: list[float], elapsed: float) -> None:
    print(f"{label:<50}{_percentiles(timings)}; {len(timings) / elapsed:.0f} checks/s")


def _serve(url: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": "bench-secret-" * 3,
           "YILIAN_FIELD_KEY": BENCH_FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
           "YILIAN_LOGIN_MAX_FAILURES": "1000"}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "yilian", "serve", "--port", str(port), "--workers",
         str(workers)], env=env, stdout=subprocess.DEVNULL)
    for _ in range(120):
        try:
            requests.get(f"http://127.0.0.1:{port}/fhir/r4/metadata", timeout=1)
            return server
        except requests.RequestException:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("yilian serve did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--http-workers", type=int, default=2)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP-level figure")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true",
                        help="time an existing benchmark database instead of building one")
    args = parser.parse_args()
    url = (make_url(args.admin_url).set(database=DATABASE).render_as_string(hide_password=False)
           if args.reuse else _database(args.admin_url))
    migrate.upgrade(url)  # a reused database gets any newer migration
    engine = make_engine(url, pool_size=args.threads + 2)
    sessions = make_sessionmaker(engine)
    if not args.reuse:
        started = time.perf_counter()
        institutions, _ = _network(sessions)
        print(f"network: {institutions} institutions, catalogue, qualifications "
              f"({time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        _bulk_results(engine, args.results)
        print(f"loaded {args.results:,} results in {time.perf_counter() - started:.1f} s")
    own_institution = _clinician(engine, sessions)
    with sessions() as session:
        stored = session.scalar(select(DiagnosticReport.id).order_by(
            DiagnosticReport.id.desc()).limit(1)) or 0
        people = session.scalar(text("SELECT max(id) FROM person")) or 1
        codes = list(session.scalars(select(RecognitionItem.code)))
        ordering = list(session.scalars(text("SELECT id FROM institution")))
        doctor = principal_for(session, user=get_by_username(session, username=BENCH_USER))
    rng = random.Random(11)

    def request() -> CheckRequest:
        return CheckRequest(person_id=rng.randint(1, people),
                            ordering_institution_id=rng.choice(ordering),
                            item_codes=rng.sample(codes, k=2))

    def one_check(session: Session) -> CheckRead:
        return results.check(session, None, data=request())

    def one_signed_in_check(session: Session) -> object:
        data = request().model_copy(update={"ordering_institution_id": own_institution})
        answer = results.check(session, doctor, data=data)
        session.commit()  # the audit record is written, as the API does
        return answer

    def one_key_read(session: Session) -> object:
        return session.get(DiagnosticReport, rng.randint(1, stored))

    _timed(sessions, one_check, 200)  # warm the pool, the plan cache and hot pages
    _timed(sessions, one_key_read, 200)
    print("plan of one check as the API runs it (clinician: visibility, audit, the check):")
    _explain(engine, one_signed_in_check, sessions)
    held = 0
    with sessions() as session:
        for _ in range(50):
            answer = one_check(session)
            held += sum(len(i.recognisable) + len(i.refused) for i in answer.items)
    print(f"results stored: {stored:,}; people: {people:,}; "
          f"held results per 2-item check: {held / 50:.1f}")
    yardstick = _timed(sessions, one_key_read, args.checks)
    print(f"{'yardstick (primary-key select, own txn)':<50}{_percentiles(yardstick)}")
    for label, work in (("service, no user", one_check),
                        ("service, clinician (visibility + audit)", one_signed_in_check)):
        single = _timed(sessions, work, args.checks)
        _report(f"{label}, 1 thread", single, sum(single))
        def once(work: Callable[[Session], object] = work) -> float:
            return _timed(sessions, work, 1)[0]

        timings, elapsed = _in_threads(args.threads, args.checks, once)
        _report(f"{label}, {args.threads} threads", timings, elapsed)
    engine.dispose()
    if not args.no_http:
        server = _serve(url, args.http_workers, args.port)
        try:
            base = f"http://127.0.0.1:{args.port}"
            token = requests.post(f"{base}/api/v1/auth/token", data={
                "username": BENCH_USER, "password": BENCH_PASSWORD},
                timeout=30).json()["access_token"]
            clients = []
            for _ in range(args.threads):  # one keep-alive connection per client thread
                client = requests.Session()
                client.headers["Authorization"] = f"Bearer {token}"
                clients.append(client)
            free = list(clients)

            def one_http_check() -> float:
                client = free.pop()
                try:
                    body = request().model_copy(update={
                        "ordering_institution_id": own_institution}).model_dump(mode="json")
                    started = time.perf_counter()
                    answer = client.post(f"{base}/api/v1/recognition/check", json=body,
                                         timeout=30)
                    took = time.perf_counter() - started
                    answer.raise_for_status()
                    return took
                finally:
                    free.append(client)

            for _ in range(100):
                one_http_check()
            single = [one_http_check() for _ in range(args.checks)]
            _report(f"HTTP, {args.http_workers} workers, 1 client", single, sum(single))
            timings, elapsed = _in_threads(args.threads, args.checks, one_http_check)
            _report(f"HTTP, {args.http_workers} workers, {args.threads} clients", timings,
                    elapsed)
            for client in clients:
                client.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    if not args.keep and not args.reuse:
        admin = make_engine(args.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
