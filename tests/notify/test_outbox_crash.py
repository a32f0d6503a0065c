"""The outbox survives a crash: a worker SIGKILLed mid-batch loses and doubles nothing.

The worker runs as a real process (``python -m yilian.notify deliver``) against the test
database (a SQLite file, or PostgreSQL) and POSTs to a slow receiver on loopback. We kill
it while the receiver holds one request, start another, and wait for the outbox to drain.
The receiver then has every event, the killed one's in-flight event twice with the same
``X-Yilian-Delivery`` id, so once after dedupe; the outbox records each delivered once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import TEST_FIELD_KEY, demo_settings
from tests.notify.conftest import Network, Receiver
from yilian.db import make_engine, make_sessionmaker
from yilian.notify import service as notify
from yilian.notify import subscriptions, verify_signature
from yilian.notify.delivery import Worker
from yilian.notify.models import AttemptOutcome, OutboxAttempt, OutboxMessage, OutboxStatus

SRC = Path(__file__).resolve().parents[2] / "src"
EVENTS = 24
BATCH = 8
KILL_AT = 6  # the 6th request of the first batch of 8 is in flight when the worker dies


@contextmanager
def worker_process(db_url: str, cwd: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """The delivery worker as its own process, with a 2-second lease; killed at the end."""
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "YILIAN_DATABASE_URL": db_url,
        "YILIAN_FIELD_KEY": TEST_FIELD_KEY,
        "YILIAN_NOTIFY_LEASE_SECONDS": "2",
        "YILIAN_NOTIFY_TIMEOUT_SECONDS": "1",
        "YILIAN_NOTIFY_POLL_SECONDS": "0.1",
        "YILIAN_LOG_LEVEL": "WARNING",
    }
    with (cwd / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "yilian.notify", "deliver", "--batch", str(BATCH)],
            env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.kill()
            process.wait(10)


def log_of(cwd: Path, name: str) -> str:
    return (cwd / f"{name}.log").read_text(errors="replace")[-3000:]


def wait_until_drained(session: Session, worker: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        session.rollback()
        pending = session.scalar(
            select(func.count(OutboxMessage.id))
            .where(OutboxMessage.status != OutboxStatus.DELIVERED)
        )
        if pending == 0:
            return
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    raise AssertionError("the outbox did not drain within 60 s")


def test_a_worker_killed_mid_batch_neither_loses_nor_doubles_a_webhook(
    session: Session, network: Network, receiver: Receiver, db_url: str, tmp_path: Path
) -> None:
    admin = network.principal(session, network.county_admin)
    hook = subscriptions.create(session, demo_settings(db_url), principal=admin,
                                institution_id=network.county.id, url=receiver.url,
                                kinds="referral")
    session.commit()
    for number in range(1, EVENTS + 1):
        notify.publish(session, kind="referral.accepted", institution_ids=[network.county.id],
                       title_zh=f"转诊 {number} 已接收", title_en=f"Referral {number} accepted",
                       subject_ref=f"ServiceRequest/{number}", payload={"number": number})
    session.commit()
    # A publish whose transaction rolls back leaves nothing to send.
    notify.publish(session, kind="referral.cancelled", institution_ids=[network.county.id],
                   title_zh="撤销", title_en="Cancelled")
    session.rollback()
    expected = set(session.scalars(select(OutboxMessage.delivery_id)))
    assert len(expected) == EVENTS

    receiver.answer = lambda n: (200, 0.5 if n == KILL_AT else 0.03)
    with worker_process(db_url, tmp_path, "first") as first:
        try:
            receiver.wait_for(KILL_AT)
        except AssertionError:
            raise AssertionError(log_of(tmp_path, "first")) from None
        first.send_signal(signal.SIGKILL)  # mid-batch, while request 6 awaits its answer
        first.wait(10)
    in_flight = receiver.received[KILL_AT - 1].headers["X-Yilian-Delivery"]

    with worker_process(db_url, tmp_path, "second") as second:
        wait_until_drained(session, second, tmp_path / "second.log")
        second.send_signal(signal.SIGTERM)  # a clean stop
        assert second.wait(15) == 0, log_of(tmp_path, "second")

    seen = Counter(r.headers["X-Yilian-Delivery"] for r in receiver.received)
    assert set(seen) == expected  # nothing lost
    assert seen[in_flight] == 2  # the one in flight was sent again after the crash…
    # (…as were any others of the batch in flight meanwhile, 4 being sent at a time)
    assert sum(seen.values()) - len(seen) <= 4
    for request in receiver.received:  # …signed, and the same event each time
        verify_signature(hook.secret, request.headers, request.body)
        event = json.loads(request.body)
        assert event["delivery_id"] == request.headers["X-Yilian-Delivery"]
        assert request.headers["X-Yilian-Event"] == event["kind"] == "referral.accepted"
    assert "referral.cancelled" not in {r.headers["X-Yilian-Event"] for r in receiver.received}
    session.rollback()
    marked = Counter(session.scalars(
        select(OutboxAttempt.message_id)
        .where(OutboxAttempt.outcome == AttemptOutcome.DELIVERED)
    ))
    assert sorted(marked.values()) == [1] * EVENTS  # each marked delivered exactly once
    statuses = Counter(session.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.DELIVERED: EVENTS}


def test_workers_claiming_at_the_same_moment_take_different_messages(
    session: Session, network: Network, db_url: str
) -> None:
    # Real parallel claims, each worker on its own engine and connection: on PostgreSQL
    # FOR UPDATE SKIP LOCKED passes over rows another claim holds, on SQLite the one
    # UPDATE … RETURNING runs under the write lock; either way no message is taken twice.
    settings = demo_settings(db_url)
    subscriptions.create(session, settings, principal=network.principal(
        session, network.county_admin), institution_id=network.county.id,
        url="http://127.0.0.1:9/unused")
    for number in range(60):
        notify.publish(session, kind="referral.accepted", institution_ids=[network.county.id],
                       title_zh=f"转诊 {number}", title_en=f"Referral {number}")
    session.commit()
    start = threading.Barrier(4)
    taken: dict[int, list[int]] = {}

    def claim_all(number: int) -> None:
        engine = make_engine(db_url)
        try:
            worker = Worker(settings, make_sessionmaker(engine), batch=5, name=f"w{number}")
            start.wait()
            mine: list[int] = []
            while claimed := worker.claim()[1]:
                mine += [message.id for message in claimed]
            taken[number] = mine
        finally:
            engine.dispose()

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [message_id for mine in taken.values() for message_id in mine]
    assert len(taken) == 4
    assert sorted(every) == sorted(session.scalars(select(OutboxMessage.id)))  # none twice
