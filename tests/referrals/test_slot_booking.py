"""A referral's "book" step takes a slot of the receiving hospital's clinics."""

from __future__ import annotations

from datetime import time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.referrals.conftest import World, chest_pain_referral
from yilian.db import utcnow
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Appointment, HalfDay, Slot, SlotStatus
from yilian.scheduling.slots import SessionPlan

API = "/api/v1/referrals"


def _accepted(client: TestClient, world: World) -> int:
    body = chest_pain_referral(world, urgency="routine", green_channel=None, kind="outpatient")
    rid = client.post(API, json=body, headers=world.county).json()["id"]
    for step in ("receive", "accept"):
        assert client.post(f"{API}/{rid}/{step}", json={},
                           headers=world.beijing).status_code == 200
    return int(rid)


def test_booking_a_clinic_slot_links_the_appointment_and_the_slot_is_taken_once(
    client: TestClient, world: World, session: Session
) -> None:
    today = (utcnow() + timedelta(hours=8)).date()
    clinic = scheduling.create_session(session, principal=None, plan=SessionPlan(
        practitioner_id=world.head_practitioner_id, department_id=world.cardiology_id,
        weekday=(today + timedelta(days=2)).weekday(), half_day=HalfDay.MORNING,
        start=time(8, 0), slot_minutes=15, slot_count=4, valid_from=today))
    scheduling.generate(session, today=today, horizon_days=7, clinic_sessions=[clinic])
    session.commit()
    slot = session.scalars(select(Slot).where(Slot.clinic_session_id == clinic.id)
                           .order_by(Slot.start_at)).first()
    assert slot is not None

    first, second = _accepted(client, world), _accepted(client, world)
    booked = client.post(f"{API}/{first}/book", json={"slot_id": slot.id}, headers=world.beijing)
    assert booked.status_code == 200, booked.text
    referral = booked.json()
    assert referral["status"] == "ready"
    appointment = session.scalars(select(Appointment).where(
        Appointment.slot_id == slot.id)).one()
    assert referral["appointment_ref"] == f"Appointment/{appointment.id}"
    assert (appointment.person_id, appointment.source.value, appointment.source_ref) == (
        world.person_id, "referral", f"ServiceRequest/{first}")
    session.expire_all()
    assert session.get(Slot, slot.id).status is SlotStatus.BUSY  # type: ignore[union-attr]

    # The same slot for another referral is full; that referral stays accepted, unbooked.
    again = client.post(f"{API}/{second}/book", json={"slot_id": slot.id},
                        headers=world.beijing)
    assert again.status_code == 409 and again.json()["code"] == "slot_full"
    assert client.get(f"{API}/{second}", headers=world.beijing).json()["status"] == "accepted"
    # The receiving doctor picks from the department's free slots on the referral page.
    page = client.get(f"/referrals/{second}", headers=world.beijing).text
    assert 'name="slot_id"' in page
    assert f'<option value="{slot.id}">' not in page  # taken
    free = session.scalars(select(Slot).where(Slot.clinic_session_id == clinic.id,
                                              Slot.status == SlotStatus.FREE)).all()
    assert len(free) == 3 and all(f'<option value="{s.id}">' in page for s in free)
