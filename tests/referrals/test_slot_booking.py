"""A referral's "book" step takes a slot of the receiving hospital's clinics, booked by the
receiving side or, once accepted, by the referring doctor."""

from __future__ import annotations

from datetime import time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import make_department, make_institution
from tests.referrals.conftest import World, chest_pain_referral
from yilian.db import utcnow
from yilian.registry import service as registry
from yilian.registry.models import Institution, PractitionerTitle
from yilian.registry.schemas import PractitionerCreate
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


def test_the_referring_doctor_books_a_slot_of_the_receiving_department_once_accepted(
    client: TestClient, world: World, session: Session
) -> None:
    today = (utcnow() + timedelta(hours=8)).date()
    tertiary = session.get(Institution, world.tertiary_id)
    assert tertiary is not None
    neurology = make_department(session, tertiary, code="NEUR", specialty="neurology")
    clinics = [scheduling.create_session(session, principal=None, plan=SessionPlan(
        practitioner_id=world.head_practitioner_id, department_id=department_id,
        weekday=(today + timedelta(days=2)).weekday(), half_day=half_day,
        start=start, slot_minutes=15, slot_count=2, valid_from=today))
        for department_id, half_day, start in (
            (world.cardiology_id, HalfDay.MORNING, time(8, 0)),
            (neurology.id, HalfDay.AFTERNOON, time(14, 0)))]
    scheduling.generate(session, today=today, horizon_days=7, clinic_sessions=clinics)
    session.commit()
    cardiology_slot, neurology_slot = (session.scalars(
        select(Slot).where(Slot.clinic_session_id == clinic.id).order_by(Slot.start_at)).first()
        for clinic in clinics)
    assert cardiology_slot is not None and neurology_slot is not None

    body = chest_pain_referral(world, urgency="routine", green_channel=None, kind="outpatient")
    rid = client.post(API, json=body, headers=world.county).json()["id"]
    # Not yet accepted: the referrer cannot book, and no slot is claimed trying.
    early = client.post(f"{API}/{rid}/book", json={"slot_id": cardiology_slot.id},
                        headers=world.county)
    assert early.status_code == 409 and early.json()["code"] == "illegal_transition"
    session.expire_all()
    assert session.get(Slot, cardiology_slot.id).status is SlotStatus.FREE  # type: ignore[union-attr]
    assert client.post(f"{API}/{rid}/accept", json={}, headers=world.beijing).status_code == 200

    # The referrer takes a published slot only, and only of the accepting department.
    for refused, code in (({"ward": "心内一病区", "bed": "3"}, "referrer_slot_only"),
                          ({"slot_id": cardiology_slot.id, "bed": "3"}, "referrer_slot_only"),
                          ({"slot_id": neurology_slot.id}, "slot_other_department")):
        answer = client.post(f"{API}/{rid}/book", json=refused, headers=world.county)
        assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
        assert answer.json()["message_zh"] and answer.json()["message_en"]
    # A doctor elsewhere cannot book it at all.
    assert client.post(f"{API}/{rid}/book", json={"slot_id": cardiology_slot.id},
                       headers=world.township).status_code == 404

    # On the referral page the county doctor sees the department's free slots, no bed fields.
    page = client.get(f"/referrals/{rid}", headers=world.county).text
    assert "为患者预约此号源" in page and f'<option value="{cardiology_slot.id}">' in page
    assert f'<option value="{neurology_slot.id}">' not in page and 'name="ward"' not in page
    version = client.get(f"{API}/{rid}", headers=world.county).json()["version"]
    booked = client.post(f"/referrals/{rid}/act/book", headers=world.county,
                         data={"slot_id": str(cardiology_slot.id), "version": str(version)},
                         follow_redirects=False)
    assert booked.status_code == 303, booked.text

    referral = client.get(f"{API}/{rid}", headers=world.beijing).json()
    appointment = session.scalars(select(Appointment).where(
        Appointment.slot_id == cardiology_slot.id)).one()
    assert referral["status"] == "ready"
    assert referral["appointment_ref"] == f"Appointment/{appointment.id}"
    assert (appointment.person_id, appointment.source.value, appointment.source_ref) == (
        world.person_id, "referral", f"ServiceRequest/{rid}")
    step = referral["events"][-1]
    assert (step["to_status"], step["actor_institution_id"]) == ("ready", world.county_id)
    # The receiving side is told the referrer booked; the slot is gone for everyone else.
    told = client.get("/api/v1/inbox", headers=world.beijing).json()["items"]
    assert any(item["notification"]["kind"] == "referral.ready" for item in told)
    again = client.post(f"{API}/{rid}/book", json={"slot_id": cardiology_slot.id},
                        headers=world.county)
    assert again.status_code == 409


def test_a_beijing_experts_clinic_at_the_county_campus_is_bookable_inside_the_referral(
    client: TestClient, world: World, session: Session
) -> None:
    today = (utcnow() + timedelta(hours=8)).date()
    campus = make_institution(session, code="BJ-T-HL", parent_code="BJ-T", level=2)
    campus_cardiology = make_department(session, campus, code="CARD-HL")
    local_doctor = registry.create_practitioner(session, data=PractitionerCreate(
        code="HL-LOCAL", name="赵医生", sex="female", title=PractitionerTitle.ATTENDING_PHYSICIAN,
        specialty="cardiology", institution_code=campus.code, department_code="CARD-HL"))
    clinics = [scheduling.create_session(session, principal=None, plan=SessionPlan(
        practitioner_id=practitioner_id, department_id=campus_cardiology.id,
        weekday=(today + timedelta(days=3)).weekday(), half_day=half_day, start=start,
        slot_minutes=15, slot_count=2, valid_from=today))
        for practitioner_id, half_day, start in (
            (world.head_practitioner_id, HalfDay.MORNING, time(8, 0)),  # visiting from Beijing
            (local_doctor.id, HalfDay.AFTERNOON, time(14, 0)))]  # the campus's own doctor
    scheduling.generate(session, today=today, horizon_days=7, clinic_sessions=clinics)
    session.commit()
    visiting, local = (session.scalars(select(Slot).where(Slot.clinic_session_id == clinic.id)
                                       .order_by(Slot.start_at)).first() for clinic in clinics)
    assert visiting is not None and local is not None

    rid = _accepted(client, world)
    # The county doctor is offered the Beijing expert's clinic at the campus, named as such.
    page = client.get(f"/referrals/{rid}", headers=world.county).text
    assert f'<option value="{visiting.id}">' in page and campus.name in page
    assert f'<option value="{local.id}">' not in page
    # The campus's own clinic is not the receiving hospital's to give inside this referral.
    refused = client.post(f"{API}/{rid}/book", json={"slot_id": local.id}, headers=world.county)
    assert refused.status_code == 422 and refused.json()["code"] == "slot_elsewhere"
    booked = client.post(f"{API}/{rid}/book", json={"slot_id": visiting.id},
                         headers=world.county)
    assert booked.status_code == 200, booked.text
    appointment = session.scalars(select(Appointment).where(
        Appointment.slot_id == visiting.id)).one()
    assert booked.json()["appointment_ref"] == f"Appointment/{appointment.id}"
    assert appointment.person_id == world.person_id
