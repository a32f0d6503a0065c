"""Concurrency proof: real parallel HTTP requests against a live server, on both databases
(PostgreSQL's row lock decides there; SQLite's single writer and the version check here).

Two clinicians accepting at the same moment, one accepting while the referrer cancels, two
bookings at once (either side, beds or clinic slots): exactly one wins each race, the other
gets 409, and the timeline holds one step per winner (and the slots one appointment).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import time as dt_time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.live import serve
from tests.referrals.conftest import World, chest_pain_referral
from yilian.db import utcnow
from yilian.referrals.models import ReferralEvent, TaskStatus
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Appointment, HalfDay, Slot, SlotStatus
from yilian.scheduling.slots import SessionPlan

API = "/api/v1/referrals"
ROUNDS = 4


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The test app served by uvicorn on a loopback port."""
    with serve(app) as base:
        yield base


def race(url: str, *requests: tuple[str, dict[str, str], dict[str, object]]) -> list[int]:
    """Send the requests at the same instant from one thread each; their status codes."""
    barrier = threading.Barrier(len(requests))
    codes: list[int] = [0] * len(requests)

    def send(index: int, path: str, headers: dict[str, str], body: dict[str, object]) -> None:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.connect()  # connected before the start line
        try:
            barrier.wait()
            connection.request("POST", path, body=json.dumps(body),
                               headers={**headers, "Content-Type": "application/json"})
            codes[index] = connection.getresponse().status
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, *request))
               for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_only_one_of_two_simultaneous_answers_wins(
    live_url: str, client: TestClient, world: World, session: Session
) -> None:
    for _ in range(ROUNDS):
        # Two receivers accept at once.
        rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
        codes = race(live_url, (f"{API}/{rid}/accept", world.beijing, {}),
                     (f"{API}/{rid}/accept", world.beijing, {}))
        assert sorted(codes) == [200, 409]
        # Two bookings at once: one appointment, never two.
        codes = race(live_url,
                     (f"{API}/{rid}/book", world.beijing, {"ward": "CCU", "bed": "1"}),
                     (f"{API}/{rid}/book", world.beijing, {"ward": "CCU", "bed": "2"}))
        assert sorted(codes) == [200, 409]
        booked = client.get(f"{API}/{rid}", headers=world.county).json()
        assert booked["status"] == "ready" and booked["bed"] in {"1", "2"}

        # The receiver accepts while the referrer cancels.
        # Both decided on the version they saw (If-Match), as the pages send it.
        made = client.post(API, json=chest_pain_referral(world), headers=world.county).json()
        other, seen = made["id"], {"If-Match": f'W/"{made["version"]}"'}
        codes = race(live_url, (f"{API}/{other}/accept", world.beijing | seen, {}),
                     (f"{API}/{other}/cancel", world.county | seen, {"reason": "家属要求"}))
        assert sorted(codes) == [200, 409]
        final = client.get(f"{API}/{other}", headers=world.county).json()["status"]
        assert final == ("accepted" if codes[0] == 200 else "cancelled")

        for referral_id, steps in ((rid, 3), (other, 2)):  # created + one per winner
            count = session.scalar(select(func.count(ReferralEvent.id))
                                   .where(ReferralEvent.referral_id == referral_id))
            assert count == steps
    winners = session.scalar(select(func.count(ReferralEvent.id))
                             .where(ReferralEvent.to_status == TaskStatus.READY))
    assert winners == ROUNDS


def test_the_referrer_and_the_receiver_booking_at_once_leave_one_appointment(
    live_url: str, client: TestClient, world: World, session: Session
) -> None:
    today = (utcnow() + timedelta(hours=8)).date()
    clinic = scheduling.create_session(session, principal=None, plan=SessionPlan(
        practitioner_id=world.head_practitioner_id, department_id=world.cardiology_id,
        weekday=(today + timedelta(days=2)).weekday(), half_day=HalfDay.MORNING,
        start=dt_time(8, 0), slot_minutes=15, slot_count=2, valid_from=today))
    scheduling.generate(session, today=today, horizon_days=28, clinic_sessions=[clinic])
    session.commit()
    by_day: dict[object, list[int]] = {}
    for slot in session.scalars(select(Slot).where(Slot.clinic_session_id == clinic.id)
                                .order_by(Slot.start_at)):
        by_day.setdefault(slot.session_date, []).append(slot.id)
    days = list(by_day.values())[:ROUNDS]
    assert len(days) == ROUNDS

    body = chest_pain_referral(world, urgency="routine", green_channel=None, kind="outpatient")
    for county_slot, beijing_slot in days:  # a clinic day each: one patient, one per day
        rid = client.post(API, json=body, headers=world.county).json()["id"]
        assert client.post(f"{API}/{rid}/accept", json={},
                           headers=world.beijing).status_code == 200
        codes = race(live_url, (f"{API}/{rid}/book", world.county, {"slot_id": county_slot}),
                     (f"{API}/{rid}/book", world.beijing, {"slot_id": beijing_slot}))
        assert sorted(codes) == [200, 409]
        winner = county_slot if codes[0] == 200 else beijing_slot
        session.expire_all()
        made = session.scalars(select(Appointment).where(
            Appointment.source_ref == f"ServiceRequest/{rid}")).all()
        assert [a.slot_id for a in made] == [winner]  # one appointment, the winner's
        statuses = {s.id: s.status for s in session.scalars(
            select(Slot).where(Slot.id.in_([county_slot, beijing_slot])))}
        assert statuses == {winner: SlotStatus.BUSY,
                            ({county_slot, beijing_slot} - {winner}).pop(): SlotStatus.FREE}
        booked = client.get(f"{API}/{rid}", headers=world.county).json()
        assert booked["status"] == "ready" and booked["appointment_ref"] == (
            f"Appointment/{made[0].id}")
