"""A patient's own account sees where their referrals stand, in plain words, on a phone-sized
page: where to go, the appointment and its check-in code, what to bring; only their own."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, register, resident_id_number
from tests.referrals.conftest import World, chest_pain_referral
from yilian.audit.models import AuditEvent
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import utcnow
from yilian.registry.models import Institution
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Appointment, HalfDay, Slot
from yilian.scheduling.slots import SessionPlan

API = "/api/v1/referrals"


def _free_slot(session: Session, world: World) -> Slot:
    today = (utcnow() + timedelta(hours=8)).date()
    clinic = scheduling.create_session(session, principal=None, plan=SessionPlan(
        practitioner_id=world.head_practitioner_id, department_id=world.cardiology_id,
        weekday=(today + timedelta(days=3)).weekday(), half_day=HalfDay.MORNING,
        start=time(8, 0), slot_minutes=15, slot_count=2, valid_from=today))
    scheduling.generate(session, today=today, horizon_days=7, clinic_sessions=[clinic])
    session.commit()
    slot = session.scalars(select(Slot).where(Slot.clinic_session_id == clinic.id)
                           .order_by(Slot.start_at)).first()
    assert slot is not None
    return slot


def _patient_login(client: TestClient, session: Session, person_id: int, name: str,
                   ) -> dict[str, str]:
    users.create(session, username=name, password=PASSWORD, role=Role.PATIENT,
                 institution_code="HB-C", person_id=person_id)
    session.commit()
    return bearer(client, name)


def test_a_patient_sees_their_own_referrals_in_plain_words_and_nobody_elses(
    client: TestClient, world: World, session: Session, settings: Settings
) -> None:
    slot = _free_slot(session, world)
    outpatient = chest_pain_referral(world, urgency="routine", green_channel=None,
                                     kind="outpatient")
    booked = client.post(API, json=outpatient, headers=world.county).json()["id"]
    for step, body in (("accept", {}), ("book", {"slot_id": slot.id})):
        assert client.post(f"{API}/{booked}/{step}", json=body,
                           headers=world.beijing).status_code == 200
    declined = client.post(API, json=outpatient, headers=world.county).json()["id"]
    assert client.post(f"{API}/{declined}/decline", json={"reason": "导管室检修"},
                       headers=world.beijing).status_code == 200
    draft = client.post(API, json={**outpatient, "draft": True},
                        headers=world.county).json()["id"]
    county = session.scalars(select(Institution).where(Institution.code == "HB-C")).one()
    born = date(1958, 7, 2)
    neighbour = register(session, settings, county, "HB-C-0002", name="王建国", sex="male",
                         birth_date=born,
                         id_number=resident_id_number("130730", born, 3, male=True)).person
    session.commit()
    theirs = client.post(API, json=chest_pain_referral(world, person_id=neighbour.id),
                         headers=world.county).json()["id"]

    song = _patient_login(client, session, world.person_id, "song.patient")
    page = client.get("/referrals/mine", headers=song)
    assert page.status_code == 200, page.text
    html = page.text
    cards = re.findall(r'id="referral-(\d+)"', html)
    assert cards == [str(declined), str(booked)]  # newest first; no draft, no neighbour
    assert str(draft) not in cards and str(theirs) not in cards and "王建国" not in html
    booked_card = html[html.index(f'id="referral-{booked}"'):]
    appointment = session.scalars(select(Appointment).where(
        Appointment.slot_id == slot.id)).one()
    local_start = (slot.start_at + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert "请按下方时间前往就诊" in booked_card and local_start in booked_card
    assert appointment.code in booked_card  # the check-in code
    assert "本人居民身份证" in booked_card and "医保卡或医保电子凭证" in booked_card
    declined_card = html[html.index(f'id="referral-{declined}"'):html.index(
        f'id="referral-{booked}"')]
    assert "暂时无法接收此次转诊" in declined_card
    assert "就诊请携带" not in declined_card  # nothing to bring to a declined referral
    assert "导管室检修" not in declined_card  # the clinical reason stays between doctors
    assert 'class="patient-referrals"' in html  # the phone-width layout
    english = client.get("/referrals/mine?lang=en", headers=song).text
    assert "Please go at the time below" in english and "What to bring" in english

    # The read is audited with the patient; the worklist sends a patient to their own page.
    reads = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral.own.read")).all()
    assert reads and all(read.patient_id == world.person_id for read in reads)
    assert client.get("/referrals", headers=song, follow_redirects=False).headers[
        "location"] == "/referrals/mine"
    assert client.get(f"/referrals/{theirs}", headers=song).status_code == 403

    # The neighbour sees only theirs, an emergency told to go at once; staff have no page.
    wang = client.get("/referrals/mine?lang=zh",
                      headers=_patient_login(client, session, neighbour.id, "wang.patient")).text
    assert re.findall(r'id="referral-(\d+)"', wang) == [str(theirs)]
    assert "请立即前往" in wang and "宋桂兰" not in wang
    staff = client.get("/referrals/mine", headers=world.county)
    assert staff.status_code == 403 and "只有患者本人" in staff.text
