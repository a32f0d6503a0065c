"""Flash crowd at slot release: N patients booking one expert's 20 slots at the same moment.

    python benchmarks/booking.py [--clients 500] [--workers 4] [--admin-url URL]

Builds a fresh PostgreSQL database (``yilian_bench_booking``) with a Beijing expert's clinic
at the Huailai campus (20 slots) and N patients, each with their own account, then starts a
real server (``uvicorn yilian.asgi:app --workers W``) on loopback. Every client holds an open
connection and a signed token; at release they all POST a booking at once (client i asks for
slot i mod 20, so every slot is fought over). Prints bookings per second, p50/p99/max latency,
and checks that exactly 20 bookings succeeded, every loser got a 409 ``slot_full`` answer in
both languages, and the database holds one appointment per slot (zero oversell).

The yardsticks, measured in the same run against the same server: the same crowd asking
``GET /healthz`` (no sign-in, no database: what answering 500 connections at once costs this
machine at all), and the same crowd reading the expert's free slots (an authenticated GET:
the same sign-in work, no write, no lock); the ratio says what the booking's transaction
costs beyond serving a request at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as clock_time

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from yilian import migrate
from yilian.auth.models import Role, User
from yilian.auth.security import hash_password, issue_token
from yilian.db import make_engine, make_sessionmaker, utcnow
from yilian.patients.models import LinkMethod, PatientRecord, Person, Sex
from yilian.registry import service as registry
from yilian.registry.models import InstitutionGrade, InstitutionKind, PractitionerTitle, RegionLevel
from yilian.registry.schemas import (
    DepartmentCreate,
    InstitutionCreate,
    PractitionerCreate,
    RegionCreate,
)
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Appointment, HalfDay

DATABASE = "yilian_bench_booking"
SECRET = "booking-benchmark-secret-key-0123456789abcdef"  # noqa: S105  (loopback only)
FIELD_KEY = "YmVuY2htYXJrLWZpZWxkLWtleS0zMi1ieXRlcyEhISE="
SLOTS = 20


@dataclass
class Answer:
    """One client's outcome."""

    status: int
    code: str
    message_zh: str
    message_en: str
    seconds: float


def fresh_database(admin_url: str) -> str:
    """Drop and create the benchmark database; its URL."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)


def build(url: str, clients: int) -> tuple[int, list[str], date]:
    """The clinic, its 20 slots and the patients; (practitioner id, tokens, clinic day)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    release_day = date.today() + timedelta(days=7)
    with make_sessionmaker(engine)() as session:
        for code, name, level, parent in (
            ("110000", "北京市", RegionLevel.PROVINCE, None),
            ("110100", "市辖区", RegionLevel.CITY, "110000"),
            ("110102", "西城区", RegionLevel.COUNTY, "110100"),
            ("130000", "河北省", RegionLevel.PROVINCE, None),
            ("130700", "张家口市", RegionLevel.CITY, "130000"),
            ("130730", "怀来县", RegionLevel.COUNTY, "130700"),
        ):
            registry.create_region(session, data=RegionCreate(
                code=code, name=name, level=level, parent_code=parent))
        for code, name, region, level, parent in (
            ("PKUPH", "北京大学人民医院", "110102", 3, None),
            ("PKUPH-HL", "北京大学人民医院怀来院区", "130730", 2, "PKUPH"),
        ):
            registry.create_institution(session, data=InstitutionCreate(
                code=code, name=name, region_code=region, level=level,
                grade=InstitutionGrade.A, kind=InstitutionKind.GENERAL_HOSPITAL,
                parent_code=parent, beds=100))
        huailai = registry.institution_by_code_or_raise(session, code="PKUPH-HL")
        for institution in (registry.institution_by_code_or_raise(session, code="PKUPH"),
                            huailai):
            registry.create_department(session, institution=institution, data=DepartmentCreate(
                code="CARD", name="心血管内科", specialty="cardiology", beds=40))
        expert = registry.create_practitioner(session, data=PractitionerCreate(
            code="PKUPH-CARD-001", name="张建", sex="male",
            title=PractitionerTitle.CHIEF_PHYSICIAN, specialty="cardiology",
            institution_code="PKUPH", department_code="CARD"))
        department = registry.department_by_code_or_raise(session, institution_id=huailai.id,
                                                          code="CARD")
        clinic = scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
            practitioner_id=expert.id, department_id=department.id,
            weekday=release_day.weekday(), half_day=HalfDay.MORNING, start=clock_time(8),
            slot_minutes=15, slot_count=SLOTS, valid_from=release_day))
        assert scheduling.generate(session, today=release_day, horizon_days=1,
                                   clinic_sessions=[clinic]) == SLOTS
        now = utcnow()
        people = session.execute(insert(Person).returning(Person.id), [
            {"name": f"患者{n:04d}", "sex": Sex.FEMALE, "created_at": now, "updated_at": now}
            for n in range(clients)]).scalars().all()
        session.execute(insert(PatientRecord), [
            {"institution_id": huailai.id, "local_id": f"B{n:05d}", "person_id": person_id,
             "name": f"患者{n:04d}", "sex": Sex.FEMALE, "link_method": LinkMethod.NEW_PERSON,
             "flags": [], "linked_at": now, "created_at": now, "updated_at": now}
            for n, person_id in enumerate(people)])
        password_hash = hash_password("Bench@2026-not-used")
        users = session.execute(insert(User).returning(User.id, User.token_version), [
            {"username": f"patient{n:04d}", "password_hash": password_hash,
             "role": Role.PATIENT, "institution_id": huailai.id, "person_id": person_id,
             "is_active": True, "token_version": 0, "created_at": now}
            for n, person_id in enumerate(people)]).all()
        session.commit()
        expert_id = expert.id
    engine.dispose()
    tokens = [issue_token(secret_key=SECRET, user_id=user_id, role=Role.PATIENT.value,
                          token_version=version, minutes=60) for user_id, version in users]
    return expert_id, tokens, release_day


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``uvicorn yilian.asgi:app`` on loopback with the benchmark's settings."""
    environment = {**os.environ, "YILIAN_DATABASE_URL": url, "YILIAN_SECRET_KEY": SECRET,
                   "YILIAN_FIELD_KEY": FIELD_KEY, "YILIAN_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "uvicorn", "yilian.asgi:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log", "--backlog", "4096"], env=environment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not start")


async def _request(port: int, request: bytes, release: asyncio.Event) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await release.wait()
    started = time.perf_counter()
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    body = await reader.readexactly(length) if length else b""
    seconds = time.perf_counter() - started
    writer.close()
    answer = json.loads(body) if body.startswith((b"{", b"[")) else {}
    if isinstance(answer, list):
        answer = {}
    return Answer(status, str(answer.get("code", "")), str(answer.get("message_zh", "")),
                  str(answer.get("message_en", "")), seconds)


def _http(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


async def crowd(port: int, requests: list[bytes]) -> tuple[list[Answer], float]:
    """Open every connection, then send every request at once; answers and wall time."""
    release = asyncio.Event()
    tasks = [asyncio.create_task(_request(port, request, release)) for request in requests]
    await asyncio.sleep(0.5 + len(requests) / 500)  # every connection open and waiting
    started = time.perf_counter()
    release.set()
    answers = await asyncio.gather(*tasks)
    return list(answers), time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(label: str, answers: list[Answer], wall: float) -> float:
    """Print one crowd's figures; its p99 in milliseconds."""
    latencies = [answer.seconds * 1000 for answer in answers]
    p99 = percentile(latencies, 0.99)
    print(f"{label:<28} {len(answers) / wall:8.0f} req/s  p50 {statistics.median(latencies):6.1f}"
          f" ms  p99 {p99:6.1f} ms  max {max(latencies):6.1f} ms")
    return p99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--admin-url", default=os.environ.get(
        "YILIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    url = fresh_database(args.admin_url)
    expert_id, tokens, day = build(url, args.clients)
    port = _free_port()
    server = start_server(url, port, args.workers)
    try:
        slots_path = f"/api/v1/scheduling/slots?practitioner_id={expert_id}&day={day}"
        slot_ids = [slot["id"] for slot in json.loads(urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{port}{slots_path}",
                                   headers={"Authorization": f"Bearer {tokens[0]}"})).read())]
        assert len(slot_ids) == SLOTS, slot_ids
        # Warm every worker's connection pool and code paths, then measure the yardstick.
        asyncio.run(crowd(port, [_http("GET", slots_path, token) for token in tokens[:100]]))
        floor, floor_wall = asyncio.run(crowd(port, [_http("GET", "/healthz", "")
                                                     for _ in tokens]))
        reads, read_wall = asyncio.run(crowd(port, [_http("GET", slots_path, token)
                                                    for token in tokens]))
        bookings, wall = asyncio.run(crowd(port, [
            _http("POST", "/api/v1/scheduling/appointments", token,
                  json.dumps({"slot_id": slot_ids[index % SLOTS]}).encode())
            for index, token in enumerate(tokens)]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"flash crowd: {args.clients} patients, {SLOTS} slots, {args.workers} server "
          f"workers, PostgreSQL, loopback")
    report("floor: GET /healthz", floor, floor_wall)
    yardstick = report("yardstick: read free slots", reads, read_wall)
    p99 = report("booking at release", bookings, wall)
    won = [answer for answer in bookings if answer.status == 201]
    lost = [answer for answer in bookings if answer.status != 201]
    clear = all(answer.status == 409 and answer.code == "slot_full" and "号源已满" in
                answer.message_zh and "full" in answer.message_en for answer in lost)
    statuses = sorted(Counter(answer.status for answer in bookings).items())
    print(f"answers by HTTP status       {dict(statuses)}")
    print(f"bookings/s (successful)      {len(won) / wall:8.1f}")
    print(f"p99 ratio booking/yardstick  {p99 / yardstick:8.2f}")
    engine = make_engine(url)
    with engine.connect() as connection:
        per_slot = dict(connection.execute(select(Appointment.slot_id, func.count())
                                           .group_by(Appointment.slot_id)).all())
    engine.dispose()
    oversold = sum(count - 1 for count in per_slot.values() if count > 1)
    print(f"succeeded {len(won)} (want {SLOTS}); losers {len(lost)}, every one a clear "
          f"'full' 409: {clear}; oversold slots: {oversold}; "
          f"p99 target 200 ms: {'met' if p99 <= 200 else 'MISSED'}")
    ok = len(won) == SLOTS and clear and oversold == 0 and len(per_slot) == SLOTS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
