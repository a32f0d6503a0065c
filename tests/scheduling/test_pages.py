"""The scheduling pages as people use them: a nurse at the Huailai registration desk booking
by phone and cancelling with a reason, what another hospital's staff may not do there, a
patient on her phone who loses a slot and is offered the next ones, and both languages."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.scheduling.world import World, build
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.audit.models import AuditEvent
from yilian.config import Settings
from yilian.registry.models import Department
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    BookingSource,
    CancelReason,
    HalfDay,
    Slot,
    SlotStatus,
)

SLOT_FIELD = re.compile(r'name="slot_id" value="(\d+)"')
PERSON_LINK = re.compile(r"person_id=(\d+)")


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    return build(session, settings)


@pytest.fixture
def browser(client: TestClient) -> TestClient:
    client.headers["Accept"] = BROWSER_ACCEPT
    return client


def beijing_clinic_slots(session: Session, world: World) -> list[int]:
    """The same expert also holds a Thursday clinic at home in Beijing."""
    beijing_cardiology = session.scalars(select(Department).where(
        Department.institution_id == world.beijing.id)).one()
    clinic = scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
        practitioner_id=world.expert.id, department_id=beijing_cardiology.id, weekday=3,
        half_day=HalfDay.MORNING, start=time(8, 0), slot_minutes=15, slot_count=4,
        valid_from=world.tuesday - timedelta(days=7)))
    scheduling.generate(session, today=world.tuesday - timedelta(days=1), horizon_days=14,
                        clinic_sessions=[clinic])
    session.commit()
    return list(session.scalars(select(Slot.id).where(Slot.clinic_session_id == clinic.id)))


def desk_url(world: World, **params: object) -> str:
    query = "&".join(f"{key}={value}" for key, value in
                     {"institution_id": world.huailai.id, **params}.items())
    return f"/scheduling/desk?{query}"


def test_a_nurse_books_by_phone_and_cancels_with_a_reason_at_the_desk(
    browser: TestClient, app: FastAPI, session: Session, world: World
) -> None:
    beijing_slots = beijing_clinic_slots(session, world)
    song = world.song.person_id
    sign_in(browser, world.doctor.username)
    # Real name: found by name and by resident ID in the patient index.
    for query in ("宋桂兰", world.song_id_number):
        found = browser.get(desk_url(world, q=query))
        assert found.status_code == 200
        assert [int(p) for p in PERSON_LINK.findall(found.text)] == [song]
    page = browser.get(desk_url(world, person_id=song, practitioner_id=world.expert.id))
    offered = [int(s) for s in SLOT_FIELD.findall(page.text)]
    huailai_tuesday = list(session.scalars(select(Slot.id).where(
        Slot.clinic_session_id == world.clinic.id, Slot.session_date == world.tuesday)
        .order_by(Slot.start_at)))
    assert offered[:20] == huailai_tuesday
    assert not set(offered) & set(beijing_slots)  # only the Huailai clinics at this desk

    form = {"csrf_token": csrf_of(page.text), "institution_id": world.huailai.id,
            "person_id": song, "practitioner_id": world.expert.id}
    booked = browser.post("/scheduling/desk/book",
                          data={**form, "slot_id": offered[0], "source": "phone"})
    assert booked.status_code == 200 and booked.url.path.startswith(
        "/scheduling/desk/appointments/")
    appointment = session.scalars(select(Appointment)).one()
    assert appointment.source is BookingSource.PHONE and appointment.person_id == song
    assert appointment.booked_by_user_id == world.doctor.user_id
    assert appointment.code in booked.text and "电话预约" in booked.text
    assert "data-print" in booked.text
    seen = set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_user_id == world.doctor.user_id)))
    assert {"patient.search", "appointment.desk", "appointment.list", "appointment.read"} <= seen

    # The API's rules hold at the desk: one per department a day, one patient per slot.
    again = browser.post("/scheduling/desk/book",
                         data={**form, "slot_id": offered[1], "source": "window"})
    assert again.status_code == 409 and "同一科室每天最多预约 1 个号" in again.text
    assert 'id="desk-slots"' in again.text  # the slots are offered again
    taken = browser.post("/scheduling/desk/book", data={
        **form, "person_id": world.others[0], "slot_id": offered[0], "source": "window"})
    assert taken.status_code == 409 and "号源已满" in taken.text
    assert session.scalars(select(Appointment.id)).all() == [appointment.id]

    # Cancelling needs a reason; with one, the slot is free again and the reason kept.
    slip = f"/scheduling/desk/appointments/{appointment.id}"
    no_reason = browser.post(slip + "/cancel",
                             data={"csrf_token": csrf_of(page.text), "reason": " "})
    assert no_reason.status_code in (400, 422) and "请填写取消原因" in no_reason.text
    cancelled = browser.post(slip + "/cancel", data={"csrf_token": csrf_of(page.text),
                                                     "reason": "患者来电改期"})
    assert cancelled.status_code == 200 and "已取消" in cancelled.text
    assert "患者来电改期" in cancelled.text
    session.expire_all()
    appointment = session.get_one(Appointment, appointment.id)
    assert appointment.status is AppointmentStatus.CANCELLED
    assert appointment.cancel_reason is CancelReason.STAFF
    assert "患者来电改期" in appointment.history[-1].note
    assert session.get_one(Slot, offered[0]).status is SlotStatus.FREE

    # At the window, an hour before the visit, it is too late to cancel.
    rebooked = browser.post("/scheduling/desk/book",
                            data={**form, "slot_id": offered[0], "source": "window"})
    assert rebooked.status_code == 200 and "窗口挂号" in rebooked.text
    second = session.scalars(select(Appointment).where(
        Appointment.status == AppointmentStatus.BOOKED)).one()
    app.state.scheduling_clock = lambda: second.start_at - timedelta(hours=1)
    late = browser.post(f"/scheduling/desk/appointments/{second.id}/cancel",
                        data={"csrf_token": csrf_of(page.text), "reason": "患者不来了"})
    assert late.status_code == 409 and "2 小时内不能取消预约" in late.text
    session.expire_all()
    assert session.get_one(Appointment, second.id).status is AppointmentStatus.BOOKED


def test_the_desk_belongs_to_the_institution_s_own_staff(
    browser: TestClient, session: Session, world: World
) -> None:
    beijing_slots = beijing_clinic_slots(session, world)
    huailai_slot = session.scalars(select(Slot.id).where(
        Slot.clinic_session_id == world.clinic.id).order_by(Slot.start_at)).first()
    sign_in(browser, world.doctor.username)
    page = browser.get(desk_url(world))
    assert page.status_code == 200
    token = csrf_of(page.text)
    # The Huailai nurse cannot book the expert's Beijing clinic from the Huailai desk.
    beijing = browser.post("/scheduling/desk/book", data={
        "csrf_token": token, "person_id": world.song.person_id, "slot_id": beijing_slots[0],
        "source": "window"})
    assert beijing.status_code == 403
    assert session.scalars(select(Appointment.id)).all() == []
    assert browser.get(f"/scheduling/desk?institution_id={world.beijing.id}").status_code == 403

    outsider = TestClient(browser.app, headers={"Accept": BROWSER_ACCEPT})
    sign_in(outsider, world.outsider.username)
    assert outsider.get(desk_url(world)).status_code == 403
    refused = outsider.post("/scheduling/desk/book", data={
        "csrf_token": csrf_of(outsider.get("/scheduling/book").text),
        "person_id": world.song.person_id, "slot_id": huailai_slot, "source": "phone"})
    assert refused.status_code == 403
    patient = TestClient(browser.app, headers={"Accept": BROWSER_ACCEPT})
    sign_in(patient, world.song.username)
    assert patient.get(desk_url(world)).status_code == 403
    assert session.scalars(select(Appointment.id)).all() == []


def test_a_patient_who_loses_a_slot_is_told_it_is_taken_and_offered_the_next_ones(
    browser: TestClient, session: Session, world: World
) -> None:
    sign_in(browser, world.song.username)
    page = browser.get(f"/scheduling/book/slots?practitioner_id={world.expert.id}")
    tuesday = list(session.scalars(select(Slot).where(
        Slot.clinic_session_id == world.clinic.id, Slot.session_date == world.tuesday)
        .order_by(Slot.start_at)))
    chosen = tuesday[4]
    # While she looks at the page, someone at the window takes her slot.
    scheduling.book(session, principal=world.doctor, slot_id=chosen.id,
                    person_id=world.others[0], source=BookingSource.WINDOW)
    session.commit()
    lost = browser.post("/scheduling/book", data={
        "slot_id": chosen.id, "practitioner_id": world.expert.id,
        "csrf_token": csrf_of(page.text)})
    assert lost.status_code == 409
    refused = lost.text.split('id="book-refused"')[1].split("</article>")[0]
    assert "已被约走" in refused and "号源已满" in refused
    offered = [int(s) for s in SLOT_FIELD.findall(refused)]
    assert offered == [slot.id for slot in tuesday[5:8]]  # the next ones after it
    moved = browser.post("/scheduling/book", data={
        "slot_id": offered[0], "practitioner_id": world.expert.id,
        "csrf_token": csrf_of(lost.text)})
    assert moved.status_code == 200 and 'id="appointment-code"' in moved.text


def test_the_pages_follow_the_language_switch(
    browser: TestClient, app: FastAPI, settings: Settings, world: World
) -> None:
    sign_in(browser, world.doctor.username)
    desk = browser.get(desk_url(world))
    assert "挂号窗口" in desk.text and "查找患者" in desk.text
    english = browser.get(desk_url(world, lang="en"))
    assert "Registration desk" in english.text and "Find the patient" in english.text
    assert "挂号窗口" not in english.text
    slots = f"/scheduling/book/slots?practitioner_id={world.expert.id}"
    assert "20 free" in browser.get(slots + "&lang=en").text
    assert "余号 20" in browser.get(slots + "&lang=zh").text
    roster = browser.get(f"/scheduling/institutions/{world.huailai.id}/experts")
    assert "双主任制" in roster.text and "挂号窗口" in roster.text

    # The check-in hint on the slip tells the window the deployment configured.
    app.state.settings = settings.model_copy(update={"scheduling_checkin_open_minutes": 30})
    page = browser.get(desk_url(world, person_id=world.song.person_id,
                                practitioner_id=world.expert.id))
    booked = browser.post("/scheduling/desk/book", data={
        "csrf_token": csrf_of(page.text), "institution_id": world.huailai.id,
        "person_id": world.song.person_id, "slot_id": SLOT_FIELD.findall(page.text)[0],
        "source": "window"})
    assert "就诊前 30 分钟至开始后 15 分钟内" in booked.text
