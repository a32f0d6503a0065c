"""Recognition-check latency against a large shared results index on PostgreSQL.

    python benchmarks/recognition.py [--results 10000000] [--checks 2000] [--threads 2]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--keep]

Builds a dedicated database (``yilian_bench_recognition``, dropped first), migrates it, loads
the Jing-Jin-Ji catalogue and 60 institutions with HR qualifications through the services,
then generates RESULTS diagnostic reports in bulk with ``generate_series`` (one person per 20
results, items and performers spread over the catalogue and network, performed over the
last 400 days, 1 % corrections), with one value per lab report and one imaging study per
exam report. It then times ``results.service.check`` — the function behind
``POST /api/v1/recognition/check`` — for random patients and two random items, each check
in its own transaction, and prints p50/p95/p99 milliseconds and checks per second (one
thread, then ``--threads`` at once). The yardstick, measured in the same run on the same
database, is a one-row primary-key select of a report in its own transaction.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from yilian import migrate
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry
from yilian.registry.models import InstitutionGrade, InstitutionKind, RegionLevel
from yilian.registry.schemas import InstitutionCreate, RegionCreate
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import DiagnosticReport, HrScope, RecognitionItem
from yilian.results.schemas import CheckRequest, QualificationCreate

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


def _percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)

    def at(share: float) -> float:
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)] * 1000

    return (f"p50 {at(0.50):.2f} ms  p95 {at(0.95):.2f} ms  p99 {at(0.99):.2f} ms  "
            f"mean {statistics.fmean(ordered) * 1000:.2f} ms")


def _p95(timings: list[float]) -> float:
    return sorted(timings)[int(0.95 * len(timings))]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000_000)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true",
                        help="time an existing benchmark database instead of building one")
    args = parser.parse_args()
    url = (make_url(args.admin_url).set(database=DATABASE).render_as_string(hide_password=False)
           if args.reuse else _database(args.admin_url))
    engine = make_engine(url, pool_size=args.threads + 2)
    sessions = make_sessionmaker(engine)
    if not args.reuse:
        migrate.upgrade(url)
        started = time.perf_counter()
        institutions, _ = _network(sessions)
        print(f"network: {institutions} institutions, catalogue, qualifications "
              f"({time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        _bulk_results(engine, args.results)
        print(f"loaded {args.results:,} results in {time.perf_counter() - started:.1f} s")
    with sessions() as session:
        stored = session.scalar(select(DiagnosticReport.id).order_by(
            DiagnosticReport.id.desc()).limit(1)) or 0
        people = session.scalar(text("SELECT max(id) FROM person")) or 1
        codes = list(session.scalars(select(RecognitionItem.code)))
        ordering = list(session.scalars(text("SELECT id FROM institution")))
    rng = random.Random(11)

    def one_check(session: Session) -> object:
        return results.check(session, None, data=CheckRequest(
            person_id=rng.randint(1, people), ordering_institution_id=rng.choice(ordering),
            item_codes=rng.sample(codes, k=2)))

    def one_key_read(session: Session) -> object:
        return session.get(DiagnosticReport, rng.randint(1, stored))

    _timed(sessions, one_check, 200)  # warm the pool, the plan cache and hot pages
    _timed(sessions, one_key_read, 200)
    yardstick = _timed(sessions, one_key_read, args.checks)
    checks = _timed(sessions, one_check, args.checks)
    held = 0
    with sessions() as session:
        for _ in range(50):
            answer = one_check(session)
            held += sum(len(i.recognisable) + len(i.refused)
                        for i in answer.items)  # type: ignore[attr-defined]
    print(f"results stored: {stored:,}; people: {people:,}; "
          f"held results per 2-item check: {held / 50:.1f}")
    print(f"yardstick (primary-key select, own transaction): {_percentiles(yardstick)}")
    print(f"recognition check, 1 thread:                     {_percentiles(checks)}")
    ratio = _p95(checks) / _p95(yardstick)
    print(f"  checks/s on 1 thread: {len(checks) / sum(checks):.0f}; "
          f"p95 / yardstick p95: {ratio:.1f}x")
    per_thread = max(args.checks // args.threads, 1)
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        parallel = [t for batch in pool.map(
            lambda _: _timed(sessions, one_check, per_thread), range(args.threads))
            for t in batch]
    elapsed = time.perf_counter() - started
    print(f"recognition check, {args.threads} threads:                    "
          f"{_percentiles(parallel)}")
    print(f"  checks/s with {args.threads} threads: {len(parallel) / elapsed:.0f}")
    engine.dispose()
    if not args.keep and not args.reuse:
        admin = make_engine(args.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
