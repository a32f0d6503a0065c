"""Soak: a mixed workload from many concurrent clients against a 2-worker server on PostgreSQL.

    PYTHONPATH=src python benchmarks/soak.py [--clients 200] [--seconds 20] [--workers 2]
        [--patients 400] [--think 0] [--database postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds a fresh PostgreSQL database (``yilian_bench_soak``, dropped at the end): Beijing and
Hebei regions, a Beijing hospital with a chest-pain centre and a cardiology department whose
two experts hold clinics every morning (100 slots each, two weeks of slots), a county
hospital, the Jing-Jin-Ji recognition catalogue with national qualifications for both
hospitals, PATIENTS patients registered at the county hospital (insured there, resident
scheme) with ten results each, and the accounts: two clinicians, an insurance clerk and a
commission analyst. It then starts ``uvicorn yilian.asgi:app --workers W`` on loopback and
runs CLIENTS threads, each on its own keep-alive connection, for SECONDS. By default a
client never pauses (a closed loop: the server is always as busy as it can be); with
``--think T`` each pauses a random time, T seconds on average (exponential), after each
answer, as a clerk or a doctor reads the screen before the next click, so the 200 clients
offer at most 200/T requests a second. Each request is drawn by weight:

- ``book``: the county clinician books a random free-looking slot for a random patient
  (``POST /api/v1/scheduling/appointments``); a 409 (slot full, or the patient's own
  booking limits) is an expected business answer, not an error;
- ``referral``: the next step of this client's own referral loop — create, accept, book a
  bed, arrive, complete (``POST /api/v1/referrals`` and ``/{id}/{step}``);
- ``recognition``: ``POST /api/v1/recognition/check`` for a patient and three items;
- ``settlement``: ``POST /api/v1/settlement/settlements`` of a 10-line bill with a fresh
  idempotency key;
- ``dashboard``: ``GET /api/v1/analytics/overview`` or ``/volumes`` for Hebei.

Prints throughput, p50/p99 per operation, expected business refusals and errors (any other
non-2xx answer, or a broken connection, by operation, status and code), the client process's
own CPU share (client and server share the machine's cores), and the target beside the
figures: zero errors, p99 <= 300 ms for every operation.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as clock_time
from http.client import HTTPException

from _load import (
    FIELD_KEY,
    PASSWORD,
    PG_ADMIN,
    SECRET,
    Client,
    drop_database,
    free_port,
    fresh_database,
    little_bound,
    percentile,
    start_server,
    stop_server,
    token,
)
from sqlalchemy import text

from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients import service as patients
from yilian.patients.models import InsuranceScheme
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry
from yilian.registry.models import (
    EmergencyCentre,
    InstitutionGrade,
    InstitutionKind,
    PractitionerTitle,
    RegionLevel,
)
from yilian.registry.schemas import (
    DepartmentCreate,
    InstitutionCreate,
    PractitionerCreate,
    RegionCreate,
)
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import HrScope
from yilian.results.schemas import QualificationCreate
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import HalfDay

DATABASE = "yilian_bench_soak"
WEIGHTS = {"book": 20, "referral": 25, "recognition": 20, "settlement": 20, "dashboard": 15}
TARGET_P99_MS = 300.0
REGIONS = (("110000", "北京市", RegionLevel.PROVINCE, None),
           ("110100", "市辖区", RegionLevel.CITY, "110000"),
           ("110102", "西城区", RegionLevel.COUNTY, "110100"),
           ("130000", "河北省", RegionLevel.PROVINCE, None),
           ("130700", "张家口市", RegionLevel.CITY, "130000"),
           ("130730", "怀来县", RegionLevel.COUNTY, "130700"))
BILL_CODES = ("110900001", "111000001", "XJ01DDA051", "XB01ABA035", "XB05BBA022",
              "210300001", "250101001", "250301001", "310701001", "C03010200")
REFERRAL_STEPS = ("create", "accept", "book", "arrive", "complete")
KEYS = itertools.count()  # idempotency keys, unique across the warm-up and the run
KEY_LOCK = threading.Lock()
EXPERTS, SLOTS_PER_CLINIC, HORIZON_DAYS, RESULTS_PER_PATIENT = 2, 100, 14, 10


@dataclass
class World:
    """The ids the clients need."""

    beijing: int
    county: int
    cardiology: int
    people: list[int]
    experts: list[int]
    item_codes: list[str]
    slots: list[int] = field(default_factory=list)


def seed(url: str, patients_count: int) -> World:
    """The network, catalogue, clinics, patients, results and accounts."""
    settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET)
    engine = make_engine(url)
    today = date.today()
    with make_sessionmaker(engine)() as session:
        for code, name, level, parent in REGIONS:
            registry.create_region(session, data=RegionCreate(
                code=code, name=name, name_en=name, level=level, parent_code=parent))
        catalogue.load_jingjinji(session)
        beijing = registry.create_institution(session, data=InstitutionCreate(
            code="BJ", name="北京医院", region_code="110102", level=3, grade=InstitutionGrade.A,
            kind=InstitutionKind.GENERAL_HOSPITAL, centres=[EmergencyCentre.CHEST_PAIN]))
        county = registry.create_institution(session, data=InstitutionCreate(
            code="HL", name="怀来县医院", region_code="130730", level=2, grade=InstitutionGrade.A,
            kind=InstitutionKind.GENERAL_HOSPITAL))
        cardiology = registry.create_department(session, institution=beijing, data=DepartmentCreate(
            code="CARD", name="心血管内科", specialty="cardiology", beds=60))
        items = results.list_items(session)
        for institution in (beijing, county):
            for group in sorted({item.item_group for item in items}):
                results.create_qualification(session, data=QualificationCreate(
                    institution_id=institution.id, item_group=group, scope=HrScope.NATIONAL,
                    valid_from=date(2025, 1, 1), valid_to=date(2030, 12, 31)))
        experts = [registry.create_practitioner(session, data=PractitionerCreate(
            code=f"BJ-CARD-{n:03d}", name=f"专家{n}", sex="male",
            title=PractitionerTitle.CHIEF_PHYSICIAN, specialty="cardiology",
            institution_code="BJ", department_code="CARD")) for n in range(EXPERTS)]
        clinics = [scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
            practitioner_id=expert.id, department_id=cardiology.id, weekday=weekday,
            half_day=HalfDay.MORNING, start=clock_time(8), slot_minutes=5,
            slot_count=SLOTS_PER_CLINIC, valid_from=today))
            for expert in experts for weekday in range(7)]
        scheduling.generate(session, today=today + timedelta(days=1), horizon_days=HORIZON_DAYS,
                            clinic_sessions=clinics)
        accounts: tuple[tuple[str, Role, str | None], ...] = (
            ("county", Role.CLINICIAN, "HL"),
            ("beijing", Role.CLINICIAN, "BJ"), ("clerk", Role.INSURANCE_CLERK, "HL"),
            ("analyst", Role.COMMISSION_ANALYST, None))
        for username, role, home in accounts:
            users.create(session, username=username, password=PASSWORD, role=role,
                         institution_code=home)
        people = [patients.register_record(session, settings, None, data=RecordCreate(
            institution_id=county.id, local_id=f"P{n:05d}", name=f"患者{n}", sex="female",
            birth_date=date(1950 + n % 50, 1 + n % 12, 1), insured_region_code="130730",
            insurance_scheme=InsuranceScheme.RESIDENT)).person.id for n in range(patients_count)]
        session.commit()
        world = World(beijing.id, county.id, cardiology.id, people,
                      [expert.id for expert in experts], [item.code for item in items])
    with engine.begin() as connection:  # results performed in Beijing over the last year
        connection.execute(text("""
            INSERT INTO diagnostic_report (person_id, institution_id, department_name,
                item_code, category, accession, performed_at, issued_at, status, conclusion,
                received_at)
            SELECT p.id, :beijing, '', item.code, item.category, 'A' || p.id || '-' || item.n,
                   now() - make_interval(days => ((p.id * 7 + item.n * 13) % 365)::int), now(),
                   'final', '', now()
            FROM person p JOIN (SELECT code, category, row_number() OVER (ORDER BY code) AS n
                                FROM recognition_item) item
              ON (item.n + p.id) % (SELECT count(*) FROM recognition_item) < :per_patient"""),
            {"beijing": world.beijing, "per_patient": RESULTS_PER_PATIENT})
        connection.execute(text("ANALYZE"))
        world.slots = list(connection.execute(text("SELECT id FROM slot")).scalars())
    engine.dispose()
    return world


@dataclass
class Tally:
    """What one client saw: latencies per operation, refusals and errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in WEIGHTS})
    expected: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    errors: Counter[tuple[str, int, str]] = field(default_factory=Counter)


def _code(body: object) -> str:
    if isinstance(body, dict):
        return str(body.get("code") or body.get("detail") or "")[:60]
    return ""


def run(port: int, clients: int, seconds: float, world: World,
        tokens: dict[str, str], think: float = 0.0) -> tuple[list[Tally], float]:
    """CLIENTS threads drawing operations by weight for SECONDS, each pausing THINK seconds
    on average between requests (0: never); tallies and wall time."""
    tallies = [Tally() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()
    operations, weights = list(WEIGHTS), list(WEIGHTS.values())

    def worker(index: int) -> None:
        rng, tally, client = random.Random(index), tallies[index], Client(port)
        referral: tuple[int, int] | None = None  # (id, index of the next step)
        barrier.wait()
        if think:  # start spread out, not all at once
            stop.wait(rng.uniform(0, think))
        while not stop.is_set():
            if think:
                stop.wait(rng.expovariate(1 / think))
                if stop.is_set():
                    break
            op = rng.choices(operations, weights)[0]
            person = rng.choice(world.people)
            who, expected = tokens["county"], 201
            if op == "book":
                method, path = "POST", "/api/v1/scheduling/appointments"
                body: object = {"slot_id": rng.choice(world.slots), "person_id": person,
                                "source": "referral"}
            elif op == "referral":
                if referral is None:
                    method, path = "POST", "/api/v1/referrals"
                    body = {"person_id": person, "target_institution_id": world.beijing,
                            "target_department_id": world.cardiology, "kind": "inpatient",
                            "urgency": "urgent", "diagnosis_code": "I20.0",
                            "diagnosis_text": "不稳定型心绞痛", "reason": "需冠脉造影",
                            "consent_recorded": True}
                else:
                    step = REFERRAL_STEPS[referral[1]]
                    method, path = "POST", f"/api/v1/referrals/{referral[0]}/{step}"
                    body = ({"ward": "CCU", "bed": "3"} if step == "book" else
                            {"outcome_summary": "好转出院"} if step == "complete" else {})
                    who, expected = tokens["beijing"], 200
            elif op == "recognition":
                method, path, expected = "POST", "/api/v1/recognition/check", 200
                body = {"person_id": person, "ordering_institution_id": world.county,
                        "item_codes": rng.sample(world.item_codes, k=3)}
            elif op == "settlement":
                with KEY_LOCK:
                    key = next(KEYS)
                method, path, who = "POST", "/api/v1/settlement/settlements", tokens["clerk"]
                body = {"idempotency_key": f"SOAK-{index:03d}-{key:09d}", "person_id": person,
                        "institution_id": world.county, "admission_date": "2026-06-01",
                        "discharge_date": "2026-06-10",
                        "lines": [{"code": code, "qty": rng.randint(1, 10),
                                   "unit_price": f"{rng.randint(100, 50_000) / 100:.2f}"}
                                  for code in BILL_CODES]}
            else:
                method, who, expected, body = "GET", tokens["analyst"], 200, None
                path = rng.choice(("/api/v1/analytics/overview?region=130000",
                                   "/api/v1/analytics/volumes?region=130000"))
            started = time.perf_counter()
            try:
                status, answer, took = client.call(method, path, who, body)
            except (OSError, HTTPException) as error:
                tally.latencies[op].append((time.perf_counter() - started) * 1000)
                tally.errors[(op, 0, type(error).__name__)] += 1
                referral = None
                continue
            tally.latencies[op].append(took * 1000)
            if op == "referral":
                if status == expected:
                    if referral is None:
                        assert isinstance(answer, dict)
                        referral = (int(answer["id"]), 1)
                    else:
                        referral = (referral[0], referral[1] + 1)
                        if referral[1] == len(REFERRAL_STEPS):
                            referral = None
                else:
                    referral = None
            if status == expected:
                continue
            if op == "book" and status == 409:
                tally.expected[(op, status, _code(answer))] += 1
            else:
                tally.errors[(op, status, _code(answer))] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return tallies, time.perf_counter() - started


def yardstick(port: int, clients: int, seconds: float, who: str) -> tuple[float, list[float]]:
    """The same clients on ``GET /api/v1/auth/me`` (sign-in check only): rate, latencies."""
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]

    def worker(index: int) -> None:
        client = Client(port)
        while time.monotonic() < stop:
            try:
                _, _, took = client.call("GET", "/api/v1/auth/me", who)
            except (OSError, HTTPException):
                continue
            latencies[index].append(took * 1000)
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [value for values in latencies for value in values]
    return len(flat) / (time.perf_counter() - started), flat


def report(tallies: list[Tally], wall: float, cpu: float, args: argparse.Namespace) -> bool:
    """Print the figures; whether the target was met."""
    pausing = (f"each pausing {args.think:g} s on average between requests" if args.think
               else "never pausing")
    print(f"soak: {args.clients} clients {pausing}, {args.seconds:.0f} s, {args.workers} server "
          f"workers, PostgreSQL, loopback; machine {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (shared with other work)")
    total, met = 0, True
    expected: Counter[tuple[str, int, str]] = Counter()
    errors: Counter[tuple[str, int, str]] = Counter()
    for tally in tallies:
        expected.update(tally.expected)
        errors.update(tally.errors)
    print(f"  {'operation':<12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}{'errors':>8}   target p99 <= {TARGET_P99_MS:.0f} ms, 0 errors")
    for op in WEIGHTS:
        values = [value for tally in tallies for value in tally.latencies[op]]
        failed = sum(count for (name, _, _), count in errors.items() if name == op)
        p99 = percentile(values, 0.99)
        ok = p99 <= TARGET_P99_MS and failed == 0
        met = met and ok
        total += len(values)
        print(f"  {op:<12}{len(values):>9}{len(values) / wall:>8.1f}"
              f"{percentile(values, 0.5):>9.1f}{p99:>9.1f}{max(values or [0]):>9.1f}"
              f"{failed:>8}   {'met' if ok else 'MISSED'}")
    print(f"  {'all':<12}{total:>9}{total / wall:>8.1f}")
    for (op, status, code), count in sorted(expected.items()):
        print(f"  expected business answer: {op} {status} {code!r} x{count}")
    for (op, status, code), count in sorted(errors.items()):
        print(f"  ERROR: {op} {status or 'connection'} {code!r} x{count}")
    print(f"  client process CPU: {cpu:.1f} s in {wall:.1f} s = {100 * cpu / wall:.0f} % of one "
          f"core ({100 * cpu / wall / (os.cpu_count() or 1):.0f} % of the machine)")
    print(f"  target (zero errors, p99 <= {TARGET_P99_MS:.0f} ms every operation): "
          f"{'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause of each client between requests, seconds (0: none)")
    parser.add_argument("--database", default=PG_ADMIN,
                        help="PostgreSQL URL of a server where a scratch database is made")
    args = parser.parse_args()
    started = time.perf_counter()
    url = fresh_database(args.database, DATABASE)
    server = None
    try:
        world = seed(url, args.patients)
        print(f"seeded {len(world.people)} patients, {len(world.slots)} slots, "
              f"{len(world.item_codes)} recognition items in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        port = free_port()
        server = start_server(url, port, args.workers)
        tokens = {name: token(port, name) for name in ("county", "beijing", "clerk", "analyst")}
        run(port, min(args.clients, 8), 2, world, tokens)  # warm every worker's pool and code
        cpu = time.process_time()
        tallies, wall = run(port, args.clients, args.seconds, world, tokens, args.think)
        cpu = time.process_time() - cpu
        ceiling = yardstick(port, args.clients, min(args.seconds, 10), tokens["beijing"])
    finally:
        if server is not None:
            stop_server(server)
        drop_database(args.database, DATABASE)
    met = report(tallies, wall, cpu, args)
    rate, latencies = ceiling
    print(f"  yardstick, same clients and server, GET /api/v1/auth/me: {rate:.1f} req/s, "
          f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms")
    if not args.think:
        print(little_bound(args.clients, 300, rate))
    return 0 if met else 1



if __name__ == "__main__":
    sys.exit(main())
