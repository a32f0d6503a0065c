"""Crash safety: the server SIGKILLed in the middle of settlement batches, referral
acceptance and webhook delivery, or between a commit and its answer, loses and doubles
nothing once it is started again.

A real server process (uvicorn, the outbox worker inside it) runs on the test database,
SQLite file or PostgreSQL. From threads, insurance clerks send a batch of discharge bills
(each with its idempotency key, several people's bills interleaved, so settlements of one
person queue on their accumulator row), two clinicians race to accept each of a batch of
referrals, and every acceptance is announced by webhook to a receiver that holds each POST
a while (until the kill: held, then 503, so one is always in flight; clients done early
resend answered requests, as unsure clerks and stale pages do). At a seeded moment (after
a seeded number of answers, while a settlement, an acceptance and a webhook are all in
flight; on PostgreSQL also while a transaction holds a written, uncommitted slip) the
server is SIGKILLed and started again; the clients resend whatever got no answer, with the
same keys. Then the database must hold every bill settled exactly once, the year's
accumulators equal to the sum of the slips (and the annual cap held), every referral
accepted exactly once and its winner told so even when the kill cut off its answer (each
clinician's accept carries an Idempotency-Key, so the resent one gets the first answer),
and every acceptance announced by exactly one webhook
message, delivered at least once (the one in flight at the kill again after the restart,
under the same delivery id for the receiver to drop) and recorded as delivered exactly
once.

A kill at a seeded moment may or may not land in the most dangerous window, so a second
test forces it there: after an acceptance (and, in a second server, a settlement) has
committed, before the answer leaves. Servers started with ``die_after_commit`` SIGKILL
themselves from a SQLAlchemy ``after_commit`` listener the test's zygote child registers
(nothing under src/ knows of it) as soon as they commit the first unit of work that
accepted a referral or settled a bill. The client sees the connection drop without an
answer while the database already holds the change, the answer kept for its key and the
webhook queued; a normal server then gets the same requests with the same keys and must
answer with the first answers (the kept 200 body of the accept, not a 409; the stored
settlement's id and slip, not a second one), leaving one acceptance step, one settlement
and its event, the accumulator equal to its slip, and one webhook, delivered once.

The servers are forked from a process that built the app once (tests/crash/zygote.py), so a
restart costs well under a second; the database and the outbox are all they share.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from tests.crash.conftest import Receiver
from tests.crash.server import SECRET_KEY, ServerProcess, Zygote
from tests.factories import (
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.audit.models import AuditEvent
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.auth.security import issue_token
from yilian.config import Settings
from yilian.db import is_sqlite, make_engine
from yilian.idempotency import IdempotentRequest
from yilian.notify import subscriptions, verify_signature
from yilian.notify.models import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from yilian.patients.models import PatientShare
from yilian.referrals import service as referrals
from yilian.referrals.models import Referral, ReferralEvent, TaskStatus
from yilian.referrals.schemas import ReferralCreate
from yilian.settlement.models import Accumulator, Settlement, SettlementEvent

# The kill moment and the order of the bills; YILIAN_CRASH_SEED=<n> tries another.
SEED = int(os.environ.get("YILIAN_CRASH_SEED", "20261201"))
PEOPLE = 3
BILLS_EACH = 6  # 28,400 + 4 × 28,600 = 142,800, the sixth gets the 7,200 left of the cap
SETTLERS = 3
REFERRALS = 6
ACCEPTORS = 2
# General anaesthesia 30 × 1200.00 甲类: 36,000 in scope (Hebei catalogue, level 2).
BIG_BILL = [{"code": "330100001", "qty": 30, "unit_price": "1200.00"}]
ANNUAL_CAP = Decimal("150000.00")  # Zhangjiakou residents' pooled fund, 2026
SETTLE = "/api/v1/settlement/settlements"
NAMES = ("宋桂兰", "李秀英", "王淑珍")


@dataclass
class World:
    """What the clients need: people, referrals, users, and the campus's subscription."""

    campus_id: int
    person_ids: list[int]
    referral_ids: list[int]
    versions: dict[int, int]  # each referral's version before it is accepted
    clerk: dict[str, str]  # the insurance clerk's bearer header
    doctor: dict[str, str]  # the Beijing clinician's
    secret: str


def seed(session: Session, settings: Settings, hook_url: str) -> World:
    """A Huailai campus whose clinicians refer to a Beijing hospital, three insured residents,
    six referrals waiting for an answer, and the campus's webhook for referral events."""
    campus = make_institution(session, code="HL-CAMPUS", region_code="130730", level=2)
    beijing = make_institution(session, code="BJ-T", region_code="110102", level=3)
    cardiology = make_department(session, beijing)
    person_ids = []
    for number, name in enumerate(NAMES):
        born = date(1950 + 5 * number, 1 + number, 10 + number)
        person_ids.append(register(
            session, settings, campus, f"HL{number:04d}", name=name, sex="female",
            birth_date=born.isoformat(),
            id_number=resident_id_number("130730", born, 20 + 2 * number, male=False),
            insured_region_code="130730", insurance_scheme="resident").person.id)
    clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=campus)
    referrer = make_user(session, role=Role.CLINICIAN, institution=campus)
    doctor = make_user(session, role=Role.CLINICIAN, institution=beijing)
    admin = make_user(session, role=Role.HOSPITAL_ADMIN, institution=campus)
    session.commit()
    sender = users.principal_for(session, user=referrer)
    made = [referrals.create(session, settings, sender, data=ReferralCreate(
        person_id=person_ids[number % PEOPLE], target_institution_id=beijing.id,
        target_department_id=cardiology.id, kind="inpatient", urgency="urgent",
        diagnosis_code="I25.1", diagnosis_text="冠状动脉粥样硬化性心脏病",
        reason="冠脉造影示三支病变，需评估搭桥", consent_recorded=True,
    )) for number in range(REFERRALS)]
    session.commit()
    # Subscribed after the referrals were sent: only the acceptances are webhooks.
    hook = subscriptions.create(session, settings, principal=users.principal_for(
        session, user=admin), institution_id=campus.id, url=hook_url, kinds="referral")
    session.commit()
    return World(campus.id, person_ids, [r.id for r in made], {r.id: r.version for r in made},
                 bearer(session, clerk.username), bearer(session, doctor.username), hook.secret)


# ---------------------------------------------------------------- clients


def request(base: str, method: str, path: str, *, body: Any = None, form: str = "",
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request on a fresh connection; raises OSError or HTTPException when the server
    is not there or dies before it answers."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        sent = dict(headers or {})
        payload: str | None = None
        if form:
            sent["Content-Type"], payload = "application/x-www-form-urlencoded", form
        elif body is not None:
            sent["Content-Type"], payload = "application/json", json.dumps(body)
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def bearer(session: Session, username: str) -> dict[str, str]:
    """A bearer token as the server issues it at sign-in (made here: the server's argon2
    check of a password is not what this test is about)."""
    user = users.get_by_username(session, username=username)
    assert user is not None
    token = issue_token(secret_key=SECRET_KEY, user_id=user.id, role=user.role.value,
                        token_version=user.token_version, minutes=10)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Progress:
    """What the clients have done, for the moment of the kill and the checks after it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    cut: Counter[str] = field(default_factory=Counter)  # requests the kill cut off
    killed: threading.Event = field(default_factory=threading.Event)
    unexpected: list[str] = field(default_factory=list)

    def send(self, what: str, call: Callable[[], tuple[int, Any]]) -> tuple[int, Any]:
        """Send until answered, whatever the server does meanwhile (for a minute at most)."""
        deadline = time.monotonic() + 60
        while True:
            with self.lock:
                self.in_flight[what] += 1
            try:
                answer = call()
            except ConnectionRefusedError:  # the server is down: try again in a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            except (OSError, http.client.HTTPException):  # the server died mid-request
                with self.lock:
                    self.cut[what] += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            finally:
                with self.lock:
                    self.in_flight[what] -= 1
            with self.lock:
                self.answers += 1
            return answer


def settle_body(world: World, key: str, person_id: int) -> dict[str, Any]:
    return {"idempotency_key": key, "person_id": person_id, "institution_id": world.campus_id,
            "admission_date": "2026-05-10", "discharge_date": "2026-05-20",
            "lines": BIG_BILL}


def run_clients(base: str, world: World, progress: Progress, rng: random.Random,
                ) -> tuple[list[threading.Thread], dict[str, tuple[int, Any]],
                           dict[int, list[int]], list[dict[str, Any]]]:
    """Start the clerks' and clinicians' threads; what each request was last answered."""
    clerk, doctor = world.clerk, world.doctor
    bills = [settle_body(world, f"HL-2026-{person:02d}-{bill:02d}", person_id)
             for person, person_id in enumerate(world.person_ids) for bill in range(BILLS_EACH)]
    rng.shuffle(bills)
    settled: dict[str, tuple[int, Any]] = {}
    accepted: dict[int, list[int]] = defaultdict(list)

    def settle(body: dict[str, Any]) -> tuple[int, Any]:
        return progress.send("settle", partial(request, base, "POST", SETTLE, body=body,
                                               headers=clerk))

    def accept(referral_id: int, key: str | None = None) -> int:
        headers = {**doctor, "Idempotency-Key": key} if key else doctor
        status, _ = progress.send("accept", partial(
            request, base, "POST", f"/api/v1/referrals/{referral_id}/accept", headers=headers))
        return status

    def settler(number: int, batch: list[dict[str, Any]]) -> None:
        for body in batch:
            settled[body["idempotency_key"]] = settle(body)
            time.sleep(0.08)  # the next discharge a moment later
        again = random.Random(SEED + number)
        while not progress.killed.is_set():  # done before the kill: unsure, sends some again
            status, answer = settle(again.choice(batch))
            if status != 200:
                progress.unexpected.append(f"replay {status} {answer}")
            time.sleep(0.08)

    def acceptor(number: int) -> None:
        for referral_id in world.referral_ids:
            status = accept(referral_id, key=f"accept-{referral_id}-by-{number}")
            with progress.lock:
                accepted[referral_id].append(status)
            time.sleep(0.05)  # the next patient's referral comes in a little later
        again = random.Random(SEED - number)
        while not progress.killed.is_set():  # clicks "accept" again on a stale page (no key)
            referral_id = again.choice(world.referral_ids)
            if (status := accept(referral_id)) != 409:
                progress.unexpected.append(f"accept of {referral_id} again: {status}")
            time.sleep(0.05)

    threads = [threading.Thread(target=settler, args=(n, bills[n::SETTLERS]), daemon=True)
               for n in range(SETTLERS)]
    threads += [threading.Thread(target=acceptor, args=(n,), daemon=True)
                for n in range(ACCEPTORS)]
    for thread in threads:
        thread.start()
    return threads, settled, accepted, bills


WRITING = text("""
    SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = pg_locks.relation
    WHERE pg_locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND pg_class.relname = :table AND pg_locks.mode = 'RowExclusiveLock' AND pg_locks.granted
""")


@contextmanager
def slip_writes(db_url: str) -> Iterator[Callable[[], bool]]:
    """Whether a transaction has written a slip and not yet committed, as PostgreSQL's lock
    table tells; always true on SQLite, which has no such table to look at."""
    if is_sqlite(db_url):
        yield lambda: True
        return
    engine = make_engine(db_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield lambda: bool(connection.execute(WRITING, {"table": "settlement"}).scalar())
    finally:
        engine.dispose()


def kill_in_the_middle(server: ServerProcess, progress: Progress, receiver: Receiver,
                       after_answers: int, writing: Callable[[], bool]) -> str:
    """SIGKILL the server once it has answered ``after_answers`` requests and a settlement
    (on PostgreSQL: one whose slip is written, uncommitted), an acceptance and a webhook are
    all in flight; the delivery id the receiver held."""
    deadline = time.monotonic() + 30
    while True:
        with progress.lock:
            ready = (progress.answers >= after_answers and progress.in_flight["settle"] > 0
                     and progress.in_flight["accept"] > 0)
        with receiver.lock:
            held = list(receiver.held)
        if ready and held and writing():
            server.kill()
            progress.killed.set()
            receiver.killed.set()
            return held[0]
        assert time.monotonic() < deadline, (
            f"never caught all three in flight: {progress.answers} answers, "
            f"{dict(progress.in_flight)} in flight, {len(receiver.received)} webhooks")
        time.sleep(0.002)


def wait_for_the_outbox(session: Session, server: ServerProcess) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        session.rollback()
        pending = session.scalar(select(func.count(OutboxMessage.id))
                                 .where(OutboxMessage.status != OutboxStatus.DELIVERED))
        if pending == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the outbox did not drain within 30 s:\n{server.log()}")


# ---------------------------------------------------------------- the test


def test_a_server_killed_mid_batch_loses_and_doubles_nothing(
    zygote: Zygote, session: Session, settings: Settings, receiver: Receiver, db_url: str,
    tmp_path: Path,
) -> None:
    world = seed(session, settings, receiver.url)
    rng = random.Random(SEED)
    progress = Progress()
    # A webhook answered late on a busy machine is retried in a fraction of a second.
    with ServerProcess(zygote, db_url, tmp_path, notify_worker_in_server="true",
                       notify_poll_seconds="0.05", notify_lease_seconds="2.5",
                       notify_timeout_seconds="2", notify_backoff_base_seconds="0.2",
                       notify_backoff_max_seconds="1", notify_max_attempts="50") as server:
        server.start()
        threads, settled, accepted, bills = run_clients(server.base, world, progress, rng)
        with slip_writes(db_url) as writing:
            held = kill_in_the_middle(server, progress, receiver, rng.randint(4, 10), writing)
        server.start()  # a fresh process: nothing of the killed one survives but the database
        for thread in threads:
            thread.join(90)
        assert not any(thread.is_alive() for thread in threads), "a client never finished"
        # A clerk unsure of a whole batch sends it all again: the same slips come back.
        with ThreadPoolExecutor(SETTLERS) as pool:
            replayed = dict(zip((body["idempotency_key"] for body in bills), pool.map(
                lambda body: request(server.base, "POST", SETTLE, body=body,
                                     headers=world.clerk), bills), strict=True))
        wait_for_the_outbox(session, server)
    session.rollback()

    # The kill cut requests of every kind off in the middle (the webhook: ``held``).
    assert progress.unexpected == []
    assert progress.cut["settle"] >= 1 and progress.cut["accept"] >= 1, progress.cut

    # Settlements: every bill once, answered with what was stored, replays the same slip.
    rows = {row.idempotency_key: row for row in session.scalars(select(Settlement))}
    assert sorted(rows) == sorted(body["idempotency_key"] for body in bills)
    for key, (status, body) in settled.items():
        assert status in (200, 201), body
        assert (body["id"], body["slip"]) == (rows[key].id, rows[key].slip)
        assert replayed[key][0] == 200 and replayed[key][1]["slip"] == rows[key].slip
    events = Counter(session.scalars(select(SettlementEvent.settlement_id)))
    assert sorted(events) == sorted(row.id for row in rows.values())
    assert set(events.values()) == {1}
    audited = Counter(session.scalars(select(AuditEvent.entity_id)
                                      .where(AuditEvent.action == "settlement.settle")))
    assert audited == Counter({str(row.id): 1 for row in rows.values()})

    # Accumulators: each person-year's equals the sum of their slips; the cap held.
    accumulators = session.scalars(select(Accumulator).where(Accumulator.year == 2026)).all()
    assert sorted(a.person_id for a in accumulators) == sorted(world.person_ids)
    for accumulator in accumulators:
        slips = [row for row in rows.values() if row.person_id == accumulator.person_id]
        assert (accumulator.hifp_pay, accumulator.hifmi_pay, accumulator.hifmi_base,
                accumulator.maf_pay, accumulator.admissions) == (
            sum(row.hifp_pay for row in slips), sum(row.hifmi_pay for row in slips),
            sum(row.hifmi_base for row in slips), sum(row.maf_pay for row in slips),
            len(slips))
        assert (accumulator.hifp_pay, accumulator.admissions) == (ANNUAL_CAP, BILLS_EACH)

    # Referrals: each accepted once, by one winner at most told so, its records shared once.
    steps = Counter(session.scalars(select(ReferralEvent.referral_id)
                                    .where(ReferralEvent.action == "accept")))
    assert steps == Counter({rid: 1 for rid in world.referral_ids})
    for referral in session.scalars(select(Referral)):
        assert referral.status is TaskStatus.ACCEPTED
        assert referral.version == world.versions[referral.id] + 1
    # One winner told 200, one loser 409, for every referral: a winner whose answer the kill
    # cut off resent its keyed accept and got its first answer back, not a 409.
    for rid, statuses in accepted.items():
        assert sorted(statuses) == [200, 409], (rid, statuses)
    shares = Counter(session.scalars(select(PatientShare.source_ref)))
    assert shares == Counter({f"ServiceRequest/{rid}": 1 for rid in world.referral_ids})

    # Webhooks: one message per acceptance, each delivered at least once and marked so once.
    messages = session.scalars(select(OutboxMessage)
                               .where(OutboxMessage.channel == Channel.WEBHOOK)).all()
    announced = Counter(json.loads(m.body)["payload"]["referral_id"] for m in messages)
    assert announced == Counter({rid: 1 for rid in world.referral_ids})
    assert {m.kind for m in messages} == {"referral.accepted"}
    assert {m.status for m in messages} == {OutboxStatus.DELIVERED}
    marked = Counter(session.scalars(select(OutboxAttempt.message_id)
                                     .where(OutboxAttempt.outcome == AttemptOutcome.DELIVERED)))
    assert marked == Counter({m.id: 1 for m in messages})
    seen = Counter(headers["X-Yilian-Delivery"] for headers, _ in receiver.received)
    assert set(seen) == {m.delivery_id for m in messages}  # nothing lost
    assert seen[held] >= 2  # the one held at the kill came again, under the same id
    by_event: dict[str, set[str]] = defaultdict(set)
    for headers, body in receiver.received:
        verify_signature(world.secret, headers, body)
        event = json.loads(body)
        assert event["delivery_id"] == headers["X-Yilian-Delivery"]
        assert event["payload"]["status"] == "accepted"
        by_event[event["event_id"]].add(event["delivery_id"])
    assert len(by_event) == REFERRALS  # receivers deduping by event id see each once
    assert all(len(ids) == 1 for ids in by_event.values())


# ---------------------------------------------------------------- the window after a commit


def no_answer(call: Callable[[], tuple[int, Any]]) -> None:
    """The request gets no answer at all: the server died before it sent one."""
    try:
        status, body = call()
    except (OSError, http.client.HTTPException):
        return
    raise AssertionError(f"answered {status} {body}: the server was not killed before it")


def test_a_server_killed_after_the_commit_before_the_answer_gives_the_resend_the_first_answer(
    zygote: Zygote, session: Session, settings: Settings, receiver: Receiver, db_url: str,
    tmp_path: Path,
) -> None:
    world = seed(session, settings, receiver.url)
    referral_id = world.referral_ids[0]
    winner = {**world.doctor, "Idempotency-Key": f"accept-{referral_id}-by-0"}
    loser = {**world.doctor, "Idempotency-Key": f"accept-{referral_id}-by-1"}
    bill = settle_body(world, "HL-2026-00-00", world.person_ids[0])
    accept_path = f"/api/v1/referrals/{referral_id}/accept"
    with ServerProcess(zygote, db_url, tmp_path, notify_worker_in_server="true",
                       notify_poll_seconds="0.05", notify_backoff_base_seconds="0.2",
                       notify_backoff_max_seconds="1") as server:
        accept = partial(request, server.base, "POST", accept_path, headers=winner)
        settle = partial(request, server.base, "POST", SETTLE, body=bill, headers=world.clerk)
        # The worker is off in the servers that die, so only the last one can send the
        # webhook: the receiver must see the acceptance's exactly once.
        server.start(die_after_commit="referral.accept", notify_worker_in_server="false")
        no_answer(accept)
        assert server.died(), server.log()
        server.kill()
        receiver.killed.set()  # from now on the receiver answers 200 at once

        # The acceptance is stored, with the answer kept for its key and its webhook queued.
        session.rollback()
        referral = session.get(Referral, referral_id)
        assert referral is not None and referral.status is TaskStatus.ACCEPTED
        kept = session.scalars(select(IdempotentRequest).where(
            IdempotentRequest.key == winner["Idempotency-Key"])).one()
        assert kept.status_code == 200
        first_answer = json.loads(kept.body)
        assert first_answer["status"] == "accepted"
        queued = session.scalars(select(OutboxMessage)
                                 .where(OutboxMessage.channel == Channel.WEBHOOK)).all()
        assert [json.loads(m.body)["payload"]["referral_id"] for m in queued] == [referral_id]
        assert queued[0].status is OutboxStatus.PENDING

        server.start(die_after_commit="settlement", notify_worker_in_server="false")
        no_answer(settle)
        assert server.died(), server.log()
        server.kill()

        # The settlement is stored, and added to the accumulator.
        session.rollback()
        stored = session.scalars(select(Settlement)).one()
        assert stored.idempotency_key == bill["idempotency_key"]
        accumulator = session.scalars(select(Accumulator)).one()
        assert (accumulator.hifp_pay, accumulator.admissions) == (stored.hifp_pay, 1)
        session.rollback()

        server.start()  # a normal server: the clients resend what got no answer, same keys
        resent_accept, resent_settle = accept(), settle()
        assert resent_accept == (200, first_answer)  # the first answer, not a 409
        assert resent_settle[0] == 200, resent_settle
        assert (resent_settle[1]["id"], resent_settle[1]["slip"]) == (stored.id, stored.slip)
        assert accept() == (200, first_answer) and settle() == resent_settle  # and again
        status, body = request(server.base, "POST", accept_path, headers=loser)
        assert status == 409, body  # another click, another key: the referral is taken
        wait_for_the_outbox(session, server)
    session.rollback()

    # One acceptance: one step, one version, its records shared once.
    steps = session.scalars(select(ReferralEvent.referral_id)
                            .where(ReferralEvent.action == "accept")).all()
    assert steps == [referral_id]
    referral = session.get(Referral, referral_id)
    assert referral is not None and referral.version == world.versions[referral_id] + 1
    shares = session.scalars(select(PatientShare.source_ref)).all()
    assert shares == [f"ServiceRequest/{referral_id}"]

    # One settlement: one event, one audit record; the accumulator is its slip.
    assert session.scalars(select(Settlement.id)).all() == [stored.id]
    assert session.scalars(select(SettlementEvent.settlement_id)).all() == [stored.id]
    assert session.scalars(select(AuditEvent.entity_id)
                           .where(AuditEvent.action == "settlement.settle")).all() == [
        str(stored.id)]
    accumulator = session.scalars(select(Accumulator)).one()
    assert (accumulator.hifp_pay, accumulator.hifmi_pay, accumulator.hifmi_base,
            accumulator.maf_pay, accumulator.admissions) == (
        stored.hifp_pay, stored.hifmi_pay, stored.hifmi_base, stored.maf_pay, 1)

    # One webhook for the acceptance, queued once, delivered once.
    messages = session.scalars(select(OutboxMessage)
                               .where(OutboxMessage.channel == Channel.WEBHOOK)).all()
    assert [(m.id, m.kind, m.status) for m in messages] == [
        (queued[0].id, "referral.accepted", OutboxStatus.DELIVERED)]
    assert [headers["X-Yilian-Delivery"] for headers, _ in receiver.received] == [
        messages[0].delivery_id]
    headers, body = receiver.received[0]
    verify_signature(world.secret, headers, body)
    assert json.loads(body)["payload"] == {**json.loads(messages[0].body)["payload"],
                                           "status": "accepted"}
