"""No slot is ever sold twice: many real parallel requests against a live server."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, register, resident_id_number
from tests.live import serve
from tests.scheduling.world import World, build
from yilian.app import create_app
from yilian.config import Settings
from yilian.scheduling.models import Appointment, Slot, SlotStatus

CLIENTS = 40
SLOTS = 5


def post(base: str, path: str, body: object, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """POST to the live server on a fresh connection: (status, JSON answer)."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        if isinstance(body, dict) and headers.get("Content-Type") == "form":
            payload = urllib.parse.urlencode(body)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        else:
            payload = json.dumps(body)
            headers = {**headers, "Content-Type": "application/json"}
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    """A real Yilian server on the test database, in a thread."""
    app = create_app(settings)
    try:
        with serve(app) as base:
            yield base
    finally:
        app.state.engine.dispose()


# PostgreSQL only, by choosing the backend fixture's parameter (not by skipping): SQLite
# serialises writers, and a request whose read snapshot went stale cannot upgrade to a write
# and fails "database is locked" (never a double sale). The proof that matters is on
# PostgreSQL, the production database.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_forty_parallel_bookings_of_five_slots_sell_exactly_five(
    session: Session, settings: Settings, live_url: str
) -> None:
    world: World = build(session, settings)
    patients = [
        register(session, settings, world.huailai, f"HL-C{n:03d}", name=f"患者{n}", sex="male",
                 birth_date="1980-01-01",
                 id_number=resident_id_number("130730", date(1980, 1, 1), 10 * n + 1,
                                              male=True)).person.id
        for n in range(CLIENTS)
    ]
    session.commit()
    slot_ids = list(session.scalars(
        select(Slot.id).where(Slot.session_date == world.tuesday).order_by(Slot.start_at)
        .limit(SLOTS)))
    _, answer = post(live_url, "/api/v1/auth/token",
                     {"username": world.doctor.username, "password": PASSWORD},
                     {"Content-Type": "form"})
    token = answer["access_token"]
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def book(index: int) -> None:
        barrier.wait()
        status, answer = post(live_url, "/api/v1/scheduling/appointments", {
            "slot_id": slot_ids[index % SLOTS], "person_id": patients[index],
            "source": "phone"}, {"Authorization": f"Bearer {token}"})
        with lock:
            answers.append((status, answer.get("code", "")))

    threads = [threading.Thread(target=book, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcomes = Counter(status for status, _ in answers)
    assert outcomes == {201: SLOTS, 409: CLIENTS - SLOTS}
    assert {code for status, code in answers if status == 409} == {"slot_full"}
    session.expire_all()
    per_slot = dict(session.execute(
        select(Appointment.slot_id, func.count()).group_by(Appointment.slot_id)).all())
    assert per_slot == dict.fromkeys(slot_ids, 1)  # zero oversell
    statuses = set(session.scalars(select(Slot.status).where(Slot.id.in_(slot_ids))))
    assert statuses == {SlotStatus.BUSY}
