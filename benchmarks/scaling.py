"""Scaling simulation: how each hot path's cost grows from 1x to 10x data, in process.

    PYTHONPATH=src python benchmarks/scaling.py [--patients 20000] [--factors 1 10]
        [--repeat 50] [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

For each factor F a fresh PostgreSQL database (``yilian_bench_scaling``, dropped at the end)
gets the soak benchmark's network (two hospitals, the recognition catalogue, accounts, 20
patients registered through the service with resident IDs), then in bulk inside PostgreSQL:

- PATIENTS x F people, each with a record at the county hospital and a resident-ID blind
  index (the keyed hash itself is random here: the lookup reads the index the same way);
- five results per person (diagnostic reports over the last year);
- 20 x F cardiologists in Beijing, each with a clinic every morning and two weeks of slots;
- 20 x F county institutions in Hebei with 24 months of volume aggregates each;
- PATIENTS x F past settlements (cloned from one settled through the service).

Then it times, each call in its own transaction through the service layer with a signed-in
user (the permission and visibility checks and the audit row included), REPEAT calls of:
patient search by resident ID, recognition check (three items), free-slot read of one
expert, settlement of a 10-line bill (committed), and the dashboard aggregate read
(volumes of Hebei). It prints p50 and mean per path and size, and the ratio 10x/1x.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from _load import FIELD_KEY, PG_ADMIN, SECRET, drop_database, fresh_database
from soak import BILL_CODES, seed
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from yilian.analytics import service as analytics
from yilian.auth.permissions import Principal
from yilian.auth.service import get_by_username, principal_for
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients import service as patients
from yilian.patients.models import InsuranceScheme
from yilian.patients.resident_id import check_digit
from yilian.patients.schemas import RecordCreate
from yilian.results import service as results
from yilian.results.schemas import CheckRequest
from yilian.scheduling import service as scheduling
from yilian.settlement import service as settlement
from yilian.settlement.schemas import SettleRequest

DATABASE = "yilian_bench_scaling"
PATHS = ("patient search by resident ID", "recognition check", "free-slot read",
         "settlement", "dashboard aggregate read")


def _columns(connection: Connection, table: str) -> list[str]:
    return list(connection.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
        "AND column_name <> 'id' ORDER BY ordinal_position"), {"t": table}).scalars())


def _clone(connection: Connection, table: str, source: str, count: int,
           overrides: dict[str, str]) -> None:
    """COUNT copies (``g`` = 1..COUNT) of the rows SOURCE selects from TABLE (alias ``s``),
    with the columns in OVERRIDES set to their SQL expressions."""
    columns = _columns(connection, table)
    values = ", ".join(overrides.get(column, f"s.{column}") for column in columns)
    connection.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "  # noqa: S608
        f"FROM {table} s CROSS JOIN generate_series(1, {count}) g WHERE {source}"
        .replace("%", "%%"))


def _principal(session: Session, username: str) -> Principal:
    user = get_by_username(session, username=username)
    assert user is not None, username
    return principal_for(session, user=user)


def resident_ids(count: int) -> list[str]:
    """COUNT valid resident ID numbers (Huailai, born 1950-1999)."""
    numbers = []
    for n in range(count):
        first17 = f"130730{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        numbers.append(first17 + check_digit(first17))
    return numbers


def build(url: str, patients_count: int, factor: int) -> tuple[list[str], int, int, int]:
    """The data at this factor; (searched resident IDs, county id, Beijing id, expert id)."""
    world = seed(url, 20)
    settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET)
    engine = make_engine(url)
    numbers = resident_ids(20)
    with make_sessionmaker(engine)() as session:
        for n, number in enumerate(numbers):
            patients.register_record(session, settings, None, data=RecordCreate(
                institution_id=world.county, local_id=f"ID{n:05d}", name=f"居民{n}",
                sex="female", id_number=number, insured_region_code="130730",
                insurance_scheme=InsuranceScheme.RESIDENT))
        clerk = _principal(session, "clerk")
        settlement.settle_bill(session, principal=clerk, request=_bill(world.people[0],
                                                                       world.county, "TEMPLATE"))
        session.commit()
    people, experts, counties = patients_count * factor, 20 * factor, 20 * factor
    with engine.connect() as connection:
        last = connection.exec_driver_sql("SELECT max(id) FROM person").scalar()
    steps: list[tuple[str, Callable[[Connection], object]]] = [
        ("people", lambda c: c.exec_driver_sql(f"""
            INSERT INTO person (status, name, sex, birth_date, created_at, updated_at)
            SELECT 'active', '居民' || g, CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END,
                   date '1950-01-01' + (g % 18000), now(), now()
            FROM generate_series(1, {people}) g""".replace("%", "%%"))),  # noqa: S608
        ("records", lambda c: c.exec_driver_sql("""
            INSERT INTO patient_record (institution_id, local_id, person_id, name, sex,
                birth_date, id_number_hash, id_number_masked, address, insured_region_code,
                insurance_scheme, flags, link_method, linked_at, created_at, updated_at)
            SELECT %(county)s, 'BULK' || p.id, p.id, p.name, p.sex, p.birth_date,
                   md5(p.id::text) || md5('id' || p.id), '', '', '130730', 'resident', '[]',
                   'new_person', now(), now(), now()
            FROM person p WHERE p.id > %(last)s""", {"county": world.county, "last": last})),
        ("results", lambda c: c.exec_driver_sql("""
            INSERT INTO diagnostic_report (person_id, institution_id, department_name,
                item_code, category, accession, performed_at, issued_at, status, conclusion,
                received_at)
            SELECT p.id, %(beijing)s, '', item.code, item.category, 'B' || p.id || '-' || k,
                   now() - make_interval(days => ((p.id * 7 + k * 13) %% 365)::int), now(),
                   'final', '', now()
            FROM person p CROSS JOIN generate_series(1, 5) k
            JOIN (SELECT code, category, row_number() OVER (ORDER BY code) AS n,
                         count(*) OVER () AS total FROM recognition_item) item
              ON item.n = 1 + (p.id * 5 + k) %% item.total
            WHERE p.id > %(last)s""", {"beijing": world.beijing, "last": last})),
        ("experts", lambda c: _clone(c, "practitioner", f"s.id = {world.experts[0]}", experts,
                                     {"code": "'X-' || g", "name": "'专家' || g"})),
        ("clinics", lambda c: c.exec_driver_sql(f"""
            INSERT INTO clinic_session ({', '.join(_columns(c, 'clinic_session'))})
            SELECT {', '.join('p.id' if col == 'practitioner_id' else 's.' + col
                              for col in _columns(c, 'clinic_session'))}
            FROM clinic_session s CROSS JOIN practitioner p
            WHERE s.practitioner_id = {world.experts[0]} AND p.code LIKE 'X-%%'""")),  # noqa: S608
        ("slots", lambda c: c.exec_driver_sql(f"""
            INSERT INTO slot ({', '.join(_columns(c, 'slot'))})
            SELECT {', '.join('n.id' if col == 'clinic_session_id' else 'n.practitioner_id'
                              if col == 'practitioner_id' else 's.' + col
                              for col in _columns(c, 'slot'))}
            FROM slot s JOIN clinic_session o ON o.id = s.clinic_session_id
            JOIN clinic_session n ON n.weekday = o.weekday AND n.half_day = o.half_day
                 AND n.practitioner_id <> o.practitioner_id
            JOIN practitioner p ON p.id = n.practitioner_id AND p.code LIKE 'X-%%'
            WHERE o.practitioner_id = {world.experts[0]}""")),  # noqa: S608
        ("counties", lambda c: _clone(c, "institution", f"s.id = {world.county}", counties,
                                      {"code": "'HLX' || g", "name": "'县医院' || g"})),
        ("aggregates", lambda c: c.exec_driver_sql("""
            INSERT INTO volume_month (institution_id, department_key, month, kind, total, local,
                out_of_region, unknown_region)
            SELECT i.id, 0, to_char(date '2025-01-01' + make_interval(months => m), 'YYYY-MM'),
                   k.kind, 100 + i.id %% 50, 80, 15, 5
            FROM institution i CROSS JOIN generate_series(0, 23) m
            CROSS JOIN (VALUES ('outpatient'), ('admission'), ('discharge'), ('surgery')) k(kind)
            WHERE i.region_code = '130730'""")),
        ("settlements", lambda c: _clone(
            c, "settlement", "s.idempotency_key = 'TEMPLATE'", people,
            {"idempotency_key": "'PAST-' || g",
             "person_id": f"(SELECT min(id) FROM person) + g % {people}"})),  # noqa: S608
        ("analyse", lambda c: c.exec_driver_sql("ANALYZE")),
    ]
    with engine.connect() as connection:
        # Bulk rows reference rows that exist: skip the per-row foreign-key triggers.
        connection.exec_driver_sql("SET session_replication_role = replica")
        for name, step in steps:
            started = time.perf_counter()
            step(connection)
            connection.commit()
            print(f"    {name}: {time.perf_counter() - started:.1f} s", flush=True)
        counts = {table: connection.exec_driver_sql(
            f"SELECT count(*) FROM {table}").scalar()  # noqa: S608 - our table names
                  for table in ("person", "diagnostic_report", "slot", "institution",
                                "volume_month", "settlement")}
    print("    rows: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
    engine.dispose()
    return numbers, world.county, world.beijing, world.experts[0]


def _bill(person_id: int, institution_id: int, key: str) -> SettleRequest:
    rng = random.Random(key)
    return SettleRequest.model_validate({
        "idempotency_key": key, "person_id": person_id, "institution_id": institution_id,
        "admission_date": "2026-06-01", "discharge_date": "2026-06-10",
        "lines": [{"code": code, "qty": rng.randint(1, 10),
                   "unit_price": Decimal(rng.randint(100, 50_000)).scaleb(-2)}
                  for code in BILL_CODES]})


def measure(url: str, repeat: int, numbers: list[str], county: int,
            expert: int) -> dict[str, list[float]]:
    """Milliseconds per call of each hot path, REPEAT calls each (after a warm-up)."""
    settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(5)
    with sessions() as session:
        doctor = _principal(session, "county")
        clerk = _principal(session, "clerk")
        analyst = _principal(session, "analyst")
        first, last = session.execute(text(
            "SELECT min(id), max(id) FROM person WHERE name LIKE '居民%'")).one()
        codes = list(session.execute(text("SELECT code FROM recognition_item")).scalars())
    keys = iter(range(10**9))

    def search(session: Session) -> object:
        return patients.list_persons(session, settings, doctor, where=patients.PersonFilter(
            id_number=rng.choice(numbers)))

    def check(session: Session) -> object:
        return results.check(session, doctor, data=CheckRequest(
            person_id=rng.randint(first, last), ordering_institution_id=county,
            item_codes=rng.sample(codes, k=3)))

    def free(session: Session) -> object:
        return scheduling.free_slots(session, after=datetime.now(UTC) + timedelta(days=1),
                                     practitioner_ids=[expert])

    def settle(session: Session) -> object:
        return settlement.settle_bill(session, principal=clerk, request=_bill(
            rng.randint(first, last), county, f"SCALE-{next(keys):09d}"))

    def dashboard(session: Session) -> object:
        return analytics.volumes(session, analyst, query=analytics.VolumeQuery(
            period_from="2025-01", period_to="2026-12", region_code="130000"))

    timings: dict[str, list[float]] = {}
    for path, work in zip(PATHS, (search, check, free, settle, dashboard), strict=True):
        values = []
        for number in range(repeat + 20):
            started = time.perf_counter()
            with sessions() as session:
                work(session)
                session.commit()  # the audit row (and the settlement) as the API commits
            if number >= 20:
                values.append((time.perf_counter() - started) * 1000)
        timings[path] = values
    engine.dispose()
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000, help="people at 1x")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database", default=PG_ADMIN,
                        help="PostgreSQL URL of a server where a scratch database is made")
    args = parser.parse_args()
    figures: dict[int, dict[str, list[float]]] = {}
    for factor in args.factors:
        print(f"{factor}x: {args.patients * factor:,} people", flush=True)
        started = time.perf_counter()
        url = fresh_database(args.database, DATABASE)
        try:
            numbers, county, _, expert = build(url, args.patients, factor)
            print(f"    built in {time.perf_counter() - started:.1f} s", flush=True)
            figures[factor] = measure(url, args.repeat, numbers, county, expert)
        finally:
            drop_database(args.database, DATABASE)
    low, high = min(args.factors), max(args.factors)
    print(f"\nhot path cost, ms per call ({args.repeat} calls each, in process, PostgreSQL, "
          f"shared machine), {date.today()}")
    header = "".join(f"{f'{factor}x p50':>10}{f'{factor}x mean':>11}" for factor in args.factors)
    print(f"| {'path':<30}|{header} | ratio {high}x/{low}x (p50) |")
    for path in PATHS:
        cells = "".join(f"{statistics.median(figures[factor][path]):>10.2f}"
                        f"{statistics.fmean(figures[factor][path]):>11.2f}"
                        for factor in args.factors)
        ratio = statistics.median(figures[high][path]) / statistics.median(figures[low][path])
        print(f"| {path:<30}|{cells} | {ratio:>8.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
