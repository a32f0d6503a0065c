"""Referral benchmark: the whole closed loop through the HTTP API from concurrent clients.

    python benchmarks/referrals.py [--clients 50] [--seconds 20] [--workers 2] [--database URL]

Builds a fresh PostgreSQL database (``yilian_bench_referrals`` on the test server unless
``--database`` names one), a county hospital, a Beijing hospital with a chest-pain centre and
their clinicians, and a pool of patients registered at the county hospital. Then it starts
``uvicorn`` on loopback (a separate process, ``--workers`` processes) and runs CLIENTS threads,
each with its own keep-alive connection, for SECONDS: every loop is create → accept → book →
arrive → complete of one referral. It prints loops per second and p50/p99 per step; then
the same clients hit ``GET /api/v1/auth/me`` (the cheapest authenticated endpoint) for the
same time, the ceiling the loop's throughput is compared with (5 requests per loop).
Targets: p99 ≤ 100 ms per step at 50 clients; loop requests ≥ 30 % of the ceiling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from _load import little_bound
from sqlalchemy import text

from yilian import migrate
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients import service as patients
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry
from yilian.registry.models import EmergencyCentre, InstitutionGrade, InstitutionKind, RegionLevel
from yilian.registry.schemas import DepartmentCreate, InstitutionCreate, RegionCreate

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "yilian_bench_referrals"
PASSWORD = "Bench-2026-referrals"  # noqa: S105 - a scratch database
FIELD_KEY = "YmVuY2gtZmllbGQta2V5LTMyLWJ5dGVzLWxvbmchISE="
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105
STEPS = ("create", "accept", "book", "arrive", "complete")


def fresh_database(admin_url: str) -> str:
    """An empty migrated database for the run."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    migrate.upgrade(url)
    return url


def seed(url: str, patients_count: int) -> dict[str, int]:
    """Two hospitals, two clinicians, the patients; the ids the clients need."""
    settings = Settings(database_url=url, field_key=FIELD_KEY, secret_key=SECRET)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        for code, name, level, parent in (("110000", "北京市", RegionLevel.PROVINCE, None),
                                          ("110102", "西城区", RegionLevel.COUNTY, "110000"),
                                          ("130000", "河北省", RegionLevel.PROVINCE, None),
                                          ("130730", "怀来县", RegionLevel.COUNTY, "130000")):
            registry.create_region(session, data=RegionCreate(code=code, name=name, level=level,
                                                              parent_code=parent))
        beijing = registry.create_institution(session, data=InstitutionCreate(
            code="BJ", name="北京医院", region_code="110102", level=3, grade=InstitutionGrade.A,
            kind=InstitutionKind.GENERAL_HOSPITAL, centres=[EmergencyCentre.CHEST_PAIN]))
        county = registry.create_institution(session, data=InstitutionCreate(
            code="HL", name="怀来县医院", region_code="130730", level=2, grade=InstitutionGrade.A,
            kind=InstitutionKind.GENERAL_HOSPITAL))
        cardiology = registry.create_department(session, institution=beijing, data=DepartmentCreate(
            code="CARD", name="心血管内科", specialty="cardiology", beds=60))
        for username, institution in (("county", county), ("beijing", beijing)):
            users.create(session, username=username, password=PASSWORD, role=Role.CLINICIAN,
                         institution_code=institution.code)
        first = 0
        for number in range(patients_count):
            person = patients.register_record(session, settings, None, data=RecordCreate(
                institution_id=county.id, local_id=f"P{number:05d}", name=f"患者{number}",
                sex="female", birth_date=date(1950 + number % 50, 1 + number % 12, 1))).person
            first = first or person.id
        session.commit()
        ids = {"beijing": beijing.id, "county": county.id, "cardiology": cardiology.id,
               "first_person": first}
    engine.dispose()
    return ids


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """uvicorn on loopback, in its own process(es)."""
    env = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": SECRET,
           "YILIAN_FIELD_KEY": FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "uvicorn", "--factory", "yilian.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level",
         "warning", "--no-access-log"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, token: str = "", body: object = None,
             form: str = "") -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        payload: str | None = None
        if form:
            headers["Content-Type"], payload = "application/x-www-form-urlencoded", form
        elif body is not None:
            headers["Content-Type"], payload = "application/json", json.dumps(body)
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else {})


def token(port: int, username: str) -> str:
    status, body = Client(port).call("POST", "/api/v1/auth/token",
                                     form=f"username={username}&password={PASSWORD}")
    assert status == 200, body
    return str(body["access_token"])


def run_loops(port: int, clients: int, seconds: float, ids: dict[str, int], county: str,
              beijing: str, patients_count: int) -> tuple[int, dict[str, list[float]], int]:
    """Loops completed, per-step latencies (ms), and failed requests."""
    stop = time.monotonic() + seconds
    latencies: dict[str, list[float]] = {step: [] for step in STEPS}
    counts, failures = [0] * clients, [0] * clients
    lock = threading.Lock()

    def worker(index: int) -> None:
        client, local = Client(port), {step: [] for step in STEPS}
        person = ids["first_person"] + index % patients_count
        while time.monotonic() < stop:
            body = {"person_id": person, "target_institution_id": ids["beijing"],
                    "target_department_id": ids["cardiology"], "kind": "inpatient",
                    "urgency": "urgent", "diagnosis_code": "I20.0",
                    "diagnosis_text": "不稳定型心绞痛", "reason": "需冠脉造影",
                    "consent_recorded": True}
            plan = [("create", "POST", "/api/v1/referrals", county, body)]
            ok = True
            for step, method, path, who, payload in plan:
                started = time.perf_counter()
                status, answer = client.call(method, path, who, payload)
                local[step].append((time.perf_counter() - started) * 1000)
                ok = status == 201
                rid = answer.get("id")
            for step, payload in (("accept", {}), ("book", {"ward": "CCU", "bed": "3"}),
                                  ("arrive", {}),
                                  ("complete", {"outcome_summary": "好转出院"})):
                if not ok:
                    break
                started = time.perf_counter()
                status, _ = client.call("POST", f"/api/v1/referrals/{rid}/{step}", beijing,
                                        payload)
                local[step].append((time.perf_counter() - started) * 1000)
                ok = status == 200
            if ok:
                counts[index] += 1
            else:
                failures[index] += 1
        with lock:
            for step in STEPS:
                latencies[step] += local[step]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), latencies, sum(failures)


def run_ceiling(port: int, clients: int, seconds: float, who: str) -> tuple[int, list[float]]:
    """Requests to GET /api/v1/auth/me answered, and their latencies."""
    stop = time.monotonic() + seconds
    done, latencies, lock = [0] * clients, [], threading.Lock()

    def worker(index: int) -> None:
        client, local = Client(port), []
        while time.monotonic() < stop:
            started = time.perf_counter()
            status, _ = client.call("GET", "/api/v1/auth/me", who)
            local.append((time.perf_counter() - started) * 1000)
            done[index] += status == 200
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), latencies


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values lie (0 when none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--database", default=PG_ADMIN,
                        help="PostgreSQL URL of a server where a scratch database is made")
    args = parser.parse_args()
    url = fresh_database(args.database)
    ids = seed(url, args.patients)
    port = free_port()
    server = start_server(url, port, args.workers)
    try:
        county, beijing = token(port, "county"), token(port, "beijing")
        run_loops(port, 4, 2, ids, county, beijing, args.patients)  # warm up
        loops, latencies, failed = run_loops(port, args.clients, args.seconds, ids, county,
                                             beijing, args.patients)
        ceiling, me_latencies = run_ceiling(port, args.clients, args.seconds, beijing)
    finally:
        server.terminate()
        server.wait(timeout=30)
    loop_rate, ceiling_rate = loops / args.seconds, ceiling / args.seconds
    print(f"referral loop benchmark: {args.clients} clients, {args.seconds:.0f} s, "
          f"{args.workers} server workers, PostgreSQL, loopback")
    print(f"loops completed: {loops} ({loop_rate:.1f} loops/s, {failed} failed)")
    for step in STEPS:
        values = latencies[step]
        mean = statistics.fmean(values or [0])
        print(f"  {step:<9} n={len(values):>6}  p50 {percentile(values, 0.5):7.1f} ms  "
              f"p99 {percentile(values, 0.99):7.1f} ms  mean {mean:7.1f}")
    print(f"ceiling GET /api/v1/auth/me: {ceiling_rate:.1f} req/s  "
          f"p50 {percentile(me_latencies, 0.5):.1f} ms  "
          f"p99 {percentile(me_latencies, 0.99):.1f} ms")
    loop_requests = loop_rate * len(STEPS)
    print(f"loop requests/s {loop_requests:.1f} = {100 * loop_requests / ceiling_rate:.1f} % "
          f"of the ceiling (target ≥ 30 %); loops/s = {100 * loop_rate / ceiling_rate:.1f} % "
          "of ceiling requests/s")
    print(little_bound(args.clients, 100, ceiling_rate).strip())


if __name__ == "__main__":
    main()
