"""Settlement throughput: the engine in process, and the API on PostgreSQL under load.

    PYTHONPATH=src python benchmarks/settlement.py [--seconds 5] [--clients 16] [--workers 2]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--skip-api]

Engine: seeded 50-line bills (Hebei catalogue, Zhangjiakou resident policy) settled in a loop
for SECONDS (bills/s of wall time and of the process's CPU time, which other load on a shared
machine disturbs less); yardstick, the same run: computing and rounding those 50 line amounts
alone (``qty × price`` to the fen), the least any engine must do. API: a fresh PostgreSQL
database (created and dropped), a Yilian server (uvicorn, WORKERS processes, loopback), CLIENTS
threads each on its own keep-alive connection POSTing settlements of 10-line bills for 400
people (each with a fresh idempotency key) for SECONDS; prints settlements/s and p50/p99
latency.
Yardstick, same server and clients: ``GET /healthz`` (no database), then an authenticated
``GET`` of one settlement (sign-in check, one read, audit row): the floor of a request.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from yilian import migrate
from yilian.db import make_engine, make_sessionmaker
from yilian.patients.models import InsuranceScheme
from yilian.settlement import engine
from yilian.settlement.catalogue import PACKAGED_CATALOGUES, load_catalogue
from yilian.settlement.policy import PACKAGED_POLICIES, load_policy

FIELD_KEY = "YmVuY2htYXJrLWZpZWxkLWtleS0zMi1ieXRlcyEhISE="
SECRET = "benchmark-secret-key-not-for-production-0123456789"  # noqa: S105 (scratch database)
PASSWORD = "Bench@2026pass"  # noqa: S105 (scratch database)


# ---------------------------------------------------------------- engine


def _bills(catalogue: engine.Catalogue, count: int, lines: int) -> list[engine.Bill]:
    rng = random.Random(2026)
    codes = sorted(catalogue.items)
    bills = []
    for _ in range(count):
        bill_lines = tuple(
            engine.BillLine(rng.choice(codes), Decimal(rng.randint(1, 20)),
                            Decimal(rng.randint(50, 200_000)).scaleb(-2))
            for _ in range(lines))
        bills.append(engine.Bill("130730", InsuranceScheme.RESIDENT, engine.Filing.FILED,
                                 rng.choice((1, 2, 3)), "130730", date(2026, 6, 1), bill_lines))
    return bills


def _rate(seconds: float, work: Callable[[engine.Bill], object],
          bills: list[engine.Bill]) -> tuple[float, float]:
    """Bills per second of wall time and of this process's CPU time (steadier on a shared box)."""
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        for bill in bills:
            work(bill)
        done += len(bills)
    return (done / (time.perf_counter() - start),
            done / max(time.process_time() - cpu, 1e-9))


def bench_engine(seconds: float) -> None:
    """Engine settlements per second for 50-line bills, and the yardstick."""
    policy = load_policy(PACKAGED_POLICIES / "130700_resident_2026.yaml")
    catalogue = load_catalogue(PACKAGED_CATALOGUES / "130000_hebei_2026.csv")
    bills = _bills(catalogue, 200, 50)

    def settle(bill: engine.Bill) -> object:
        return engine.settle(policy=policy, catalogue=catalogue, bill=bill)

    def amounts_only(bill: engine.Bill) -> object:
        return [engine.to_fen(line.qty * line.unit_price) for line in bill.lines]

    yardstick, yardstick_cpu = _rate(seconds / 2, amounts_only, bills)
    rate, rate_cpu = _rate(seconds, settle, bills)
    print(f"engine: {rate:,.0f} settlements/s of 50-line bills (target ≥ 5,000); "
          f"{rate_cpu:,.0f}/s of CPU time")
    print(f"  yardstick, 50 line amounts rounded: {yardstick:,.0f} bills/s "
          f"({yardstick_cpu:,.0f}/s of CPU time); engine costs {yardstick_cpu / rate_cpu:.1f}× "
          "that in CPU time")


# ---------------------------------------------------------------- API


def _setup(url: str, people: int) -> tuple[int, list[int]]:
    """A campus, a clerk, and people insured in Huailai registered there."""
    from yilian.auth import service as users
    from yilian.auth.models import Role
    from yilian.config import Settings
    from yilian.patients import service as patients
    from yilian.patients.schemas import RecordCreate
    from yilian.registry import service as registry
    from yilian.registry.models import InstitutionKind, RegionLevel
    from yilian.registry.schemas import InstitutionCreate, RegionCreate

    settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET)
    db = make_engine(url)
    with make_sessionmaker(db)() as session:
        for code, name, level, parent in (("130000", "河北省", RegionLevel.PROVINCE, None),
                                          ("130700", "张家口市", RegionLevel.CITY, "130000"),
                                          ("130730", "怀来县", RegionLevel.COUNTY, "130700")):
            registry.create_region(session, data=RegionCreate(
                code=code, name=name, name_en=name, level=level, parent_code=parent))
        campus = registry.create_institution(session, data=InstitutionCreate(
            code="BENCH-HL", name="怀来院区", name_en="Huailai", region_code="130730", level=2,
            grade="甲", kind=InstitutionKind.GENERAL_HOSPITAL, beds=500))
        users.create(session, username="bench.clerk", password=PASSWORD,
                     role=Role.INSURANCE_CLERK, institution_code="BENCH-HL")
        person_ids = [patients.register_record(session, settings, None, data=RecordCreate(
            institution_id=campus.id, local_id=f"B{n:05d}", name=f"测试{n}",
            insured_region_code="130730", insurance_scheme=InsuranceScheme.RESIDENT,
        )).person.id for n in range(people)]
        session.commit()
        institution_id = campus.id
    db.dispose()
    return institution_id, person_ids


def _connection(base: str) -> http.client.HTTPConnection:
    parsed = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)


def _token(base: str) -> str:
    connection = _connection(base)
    body = urllib.parse.urlencode({"username": "bench.clerk", "password": PASSWORD})
    connection.request("POST", "/api/v1/auth/token", body,
                       {"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(connection.getresponse().read())["access_token"]
    connection.close()
    return str(token)


Request = Callable[[int, int], tuple[str, str, str | None]]


def _load(base: str, clients: int, seconds: float,
          request: Request) -> tuple[float, list[float], int]:
    """CLIENTS threads sending requests for SECONDS: rate, latencies (ms), failures."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(number: int) -> None:
        connection = _connection(base)
        sequence = 0
        barrier.wait()
        while not stop.is_set():
            method, path, body = request(number, sequence)
            sequence += 1
            started = time.perf_counter()
            connection.request(method, path, body, HEADERS)
            response = connection.getresponse()
            response.read()
            latencies[number].append((time.perf_counter() - started) * 1000)
            if response.status >= 300:
                failures[number] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    flat = [value for per_client in latencies for value in per_client]
    return len(flat) / elapsed, flat, sum(failures)


HEADERS: dict[str, str] = {}


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def _report(label: str, rate: float, latencies: list[float], failures: int) -> None:
    print(f"  {label}: {rate:,.0f}/s, p50 {_p(latencies, 50):.1f} ms, "
          f"p99 {_p(latencies, 99):.1f} ms, {failures} failed of {len(latencies)}")


def bench_api(admin_url: str, seconds: float, clients: int, workers: int) -> None:
    """API settlements per second with p99 on PostgreSQL, and the yardsticks."""
    name = f"yilian_bench_settlement_{os.getpid()}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    server: subprocess.Popen[bytes] | None = None
    try:
        migrate.upgrade(url)
        institution_id, people = _setup(url, 400)
        port = 18000 + os.getpid() % 1000
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": SECRET,
                   "YILIAN_FIELD_KEY": FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
                   "YILIAN_SECRET_FILE": str(Path(folder) / "s"),
                   # a throwaway database: its clerks sign in with a password alone
                   "YILIAN_TOTP_REQUIRED": "false",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
            server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                ["py-spy", "record", "--subprocesses", "-r", "200", "--format", "raw", "-o", "/tmp/prof/settle.txt", "--", sys.executable, "-m", "uvicorn", "yilian.asgi:app", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(workers), "--no-access-log",
                 "--log-level", "warning"], env=env)
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    probe = _connection(base)
                    probe.request("GET", "/healthz")
                    probe.getresponse().read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            HEADERS.update({"Authorization": f"Bearer {_token(base)}",
                            "Content-Type": "application/json"})
            rng = random.Random(7)
            codes = ["110900001", "111000001", "XJ01DDA051", "XB01ABA035", "XB05BBA022",
                     "210300001", "250101001", "250301001", "310701001", "C03010200"]

            keys = itertools.count()  # unique across the warm-up and the measured run

            def settle(client: int, sequence: int) -> tuple[str, str, str | None]:
                body = {
                    "idempotency_key": f"BENCH-{client:03d}-{next(keys):08d}",
                    "person_id": people[rng.randrange(len(people))],
                    "institution_id": institution_id, "admission_date": "2026-06-01",
                    "discharge_date": "2026-06-10",
                    "lines": [{"code": code, "qty": rng.randint(1, 10),
                               "unit_price": f"{rng.randint(100, 50_000) / 100:.2f}"}
                              for code in codes],
                }
                return "POST", "/api/v1/settlement/settlements", json.dumps(body)

            warm = _load(base, clients, 1.0, settle)  # connections, caches, JIT of the pools
            del warm
            print(f"API on PostgreSQL, {workers} worker(s), {clients} clients, {seconds:.0f} s:")
            health = _load(base, clients, 0.2, lambda c, s: ("GET", "/healthz", None))
            _report("yardstick GET /healthz", *health)
            read = _load(base, clients, 0.2,
                         lambda c, s: ("GET", "/api/v1/settlement/settlements/1", None))
            _report("yardstick authenticated GET of one settlement", *read)
            result = _load(base, clients, seconds, settle); os.system("sleep 1")
            _report("POST settlement (10-line bill, row lock, slip, audit)", *result)
            print("  targets: ≥ 200 settlements/s, p99 ≤ 300 ms; "
                  f"settlements at {result[0] / read[0]:.2f}× the authenticated-read rate")
    finally:
        if server is not None:
            server.send_signal(2)
            server.wait(timeout=30)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL whose server may create a scratch database")
    parser.add_argument("--skip-api", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared)")
    bench_engine(args.seconds)
    if not args.skip_api:
        bench_api(args.database, args.seconds, args.clients, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
