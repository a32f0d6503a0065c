"""Worked examples of the scheduling rules: a Beijing cardiologist's Tuesday clinic at the
Huailai campus, booked, called off, checked into, and the people around it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.scheduling.world import World, build, local
from yilian.audit.models import AuditEvent
from yilian.config import Settings
from yilian.errors import Conflict, NotFound
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import (
    AppointmentStatus,
    BookingSource,
    ExceptionKind,
    Slot,
    SlotStatus,
    StationingMode,
    TraineeStatus,
)
from yilian.scheduling.stationing import days_on_site

S = AppointmentStatus


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    return build(session, settings)


def tuesday_slots(session: Session, world: World) -> list[Slot]:
    return list(session.scalars(select(Slot).where(Slot.session_date == world.tuesday)
                                .order_by(Slot.start_at)))


def test_days_on_site_count_the_posting_as_the_mode_has_it() -> None:
    start, today = date(2022, 7, 1), date(2022, 7, 31)
    resident = days_on_site(mode=StationingMode.RESIDENT, start=start, end=None, today=today,
                            clinic_days=0)
    assert resident == 31  # every day of July
    assert days_on_site(mode=StationingMode.RESIDENT, start=start, end=date(2022, 7, 10),
                        today=today, clinic_days=0) == 10
    assert days_on_site(mode=StationingMode.PERIODIC, start=start, end=None, today=today,
                        clinic_days=4) == 4  # four Tuesday clinics held
    assert days_on_site(mode=StationingMode.REMOTE, start=start, end=None, today=today,
                        clinic_days=4) == 0


def test_a_stationed_executive_director_beside_the_local_director(
    session: Session, world: World
) -> None:
    today = world.clinic.valid_from
    roster = scheduling.list_stationed(session, institution_id=world.huailai.id, today=today)
    assert [(entry.practitioner.name, entry.stationing.role.value) for entry in roster] == [
        ("张建", "executive_director")]
    directors = scheduling.department_directors(session, institution_id=world.huailai.id,
                                                today=today)
    assert [(d.department.code, [p.name for p in d.local_directors],
             [p.name for p in d.executive_directors]) for d in directors] == [
        ("CARD", ["李红"], ["张建"])]


def test_the_tuesday_clinic_has_twenty_quarter_hours_generated_once(
    session: Session, world: World
) -> None:
    slots = tuesday_slots(session, world)
    assert len(slots) == 20
    assert slots[0].start_at == local(world.tuesday, 8, 0)  # 08:00 Beijing = 00:00 UTC
    assert slots[-1].end_at == local(world.tuesday, 13, 0)  # 20 × 15 min
    assert scheduling.generate(session, today=world.clinic.valid_from, horizon_days=21) == 0
    assert scheduling.generate(session, today=world.clinic.valid_from, horizon_days=28) == 20


def test_booking_is_real_name_and_keeps_the_patient_s_limits(
    session: Session, world: World, settings: Settings
) -> None:
    first, second, third = tuesday_slots(session, world)[:3]
    song_person = world.song.person_id
    assert song_person is not None
    booked = scheduling.book(session, principal=world.song, slot_id=first.id,
                             person_id=song_person, source=BookingSource.ONLINE)
    assert booked.status is S.BOOKED and len(booked.code) == 8
    assert session.get(Slot, first.id).status is SlotStatus.BUSY  # type: ignore[union-attr]
    # A patient books only for herself: anyone else is "not found".
    with pytest.raises(NotFound):
        scheduling.book(session, principal=world.song, slot_id=second.id,
                        person_id=world.others[0], source=BookingSource.ONLINE)
    # One appointment with cardiology a day (the default), and the slot is taken anyway.
    with pytest.raises(Conflict) as limit:
        scheduling.book(session, principal=world.song, slot_id=second.id,
                        person_id=song_person, source=BookingSource.ONLINE)
    assert limit.value.code == "department_day_limit"
    with pytest.raises(Conflict) as full:
        scheduling.book(session, principal=world.doctor, slot_id=first.id,
                        person_id=world.others[0], source=BookingSource.WINDOW)
    assert full.value.code == "slot_full" and "号源已满" in full.value.zh
    # A referral books through the same function, its request named.
    referred = scheduling.book(session, principal=world.doctor, slot_id=second.id,
                               person_id=world.others[0], source=BookingSource.REFERRAL,
                               source_ref="ServiceRequest/12")
    assert referred.source_ref == "ServiceRequest/12"
    # A clinician of an unrelated hospital cannot book for a Huailai patient.
    with pytest.raises(NotFound):
        scheduling.book(session, principal=world.outsider, slot_id=third.id,
                        person_id=world.others[1], source=BookingSource.PHONE)
    # Cancelling: fine days ahead, the slot is free again; not within the cut-off.
    scheduling.cancel(session, principal=world.song, appointment=booked, settings=settings)
    assert booked.status is S.CANCELLED
    assert [(c.from_status, c.to_status) for c in booked.history] == [
        (None, S.BOOKED), (S.BOOKED, S.CANCELLED)]
    assert session.get(Slot, first.id).status is SlotStatus.FREE  # type: ignore[union-attr]
    again = scheduling.book(session, principal=world.song, slot_id=first.id,
                            person_id=song_person, source=BookingSource.ONLINE)
    with pytest.raises(Conflict) as late:
        scheduling.cancel(session, principal=world.song, appointment=again, settings=settings,
                          now=again.start_at - timedelta(hours=1))
    assert late.value.code == "cancel_too_late"
    session.commit()
    reads = session.scalars(select(AuditEvent.action).where(
        AuditEvent.patient_id == song_person)).all()
    assert "appointment.self" in reads


def test_an_expert_s_absence_cancels_the_clinic_and_offers_the_next_free_slots(
    session: Session, world: World
) -> None:
    slots = tuesday_slots(session, world)
    song_person = world.song.person_id
    assert song_person is not None
    booked = scheduling.book(session, principal=world.song, slot_id=slots[4].id,
                             person_id=song_person, source=BookingSource.ONLINE)
    _, cancelled = scheduling.add_exception(
        session, principal=world.admin, kind=ExceptionKind.ABSENCE, start_date=world.tuesday,
        end_date=world.tuesday, practitioner_id=world.expert.id, reason="赴京会诊")
    assert cancelled == [booked] and booked.status is S.CANCELLED
    assert {slot.status for slot in tuesday_slots(session, world)} == {
        SlotStatus.BUSY_UNAVAILABLE}
    [notice] = scheduling.notices_for(session, person_id=song_person)
    next_tuesday = world.tuesday + timedelta(days=7)
    offered = [session.get(Slot, slot_id) for slot_id in notice.offered_ids]
    assert [slot.start_at for slot in offered if slot] == [
        local(next_tuesday, 8, 0), local(next_tuesday, 8, 15), local(next_tuesday, 8, 30)]
    assert "张建" in notice.message_zh and "赴京会诊" in notice.message_zh
    moved = scheduling.rebook_from_notice(session, principal=world.song, notice_id=notice.id,
                                          slot_id=notice.offered_ids[0], settings=Settings())
    assert moved.start_at == local(next_tuesday, 8, 0) and notice.resolved_at is not None
    # Generating again does not bring the called-off Tuesday back.
    assert scheduling.generate(session, today=world.clinic.valid_from, horizon_days=21) == 0


def test_check_in_queue_and_no_show_on_the_day(
    session: Session, world: World, settings: Settings
) -> None:
    slots = tuesday_slots(session, world)
    song_person = world.song.person_id
    assert song_person is not None
    song = scheduling.book(session, principal=world.song, slot_id=slots[0].id,
                           person_id=song_person, source=BookingSource.ONLINE)
    wang = scheduling.book(session, principal=world.doctor, slot_id=slots[1].id,
                           person_id=world.others[0], source=BookingSource.WINDOW)
    zhao = scheduling.book(session, principal=world.doctor, slot_id=slots[2].id,
                           person_id=world.others[1], source=BookingSource.PHONE)
    with pytest.raises(Conflict) as early:  # 07:00 is before the 60-minute window
        scheduling.check_in(session, principal=world.song, settings=settings, code=song.code,
                            now=local(world.tuesday, 6, 59))
    assert early.value.code == "checkin_too_early"
    scheduling.check_in(session, principal=world.doctor, settings=settings,
                        id_number="", code=wang.code.lower(), now=local(world.tuesday, 7, 40))
    scheduling.check_in(session, principal=world.song, settings=settings,
                        id_number=world.song_id_number, now=local(world.tuesday, 7, 50))
    assert (wang.queue_number, song.queue_number) == (1, 2)
    assert wang.status is S.ARRIVED
    day = world.tuesday
    called = scheduling.call_next(session, principal=world.doctor, clinic=world.clinic, day=day)
    assert called is wang and wang.status is S.CHECKED_IN
    queue = scheduling.queue(session, clinic=world.clinic, day=day)
    assert ([a.id for a in queue.in_room], [a.id for a in queue.waiting]) == ([wang.id],
                                                                            [song.id])
    scheduling.call_next(session, principal=world.doctor, clinic=world.clinic, day=day)
    assert (wang.status, song.status) == (S.FULFILLED, S.CHECKED_IN)
    with pytest.raises(Conflict):  # fulfilled is final (FHIR)
        scheduling.set_status(session, principal=world.doctor, appointment=wang,
                              status=S.BOOKED, settings=settings)
    # Zhao never came: after 08:30 + 15 minutes he is a no-show.
    assert scheduling.mark_noshow(session, settings=settings,
                                  now=local(world.tuesday, 8, 44)) == 0
    assert scheduling.mark_noshow(session, settings=settings,
                                  now=local(world.tuesday, 8, 46)) == 1
    assert zhao.status is S.NOSHOW


def test_a_county_doctor_trains_in_beijing_until_completion(
    session: Session, world: World
) -> None:
    today = world.clinic.valid_from
    from tests.factories import make_department
    from yilian.registry import service as registry
    from yilian.registry.models import PractitionerTitle
    from yilian.registry.schemas import PractitionerCreate

    make_department(session, world.beijing, code="NEUR", specialty="neurology")
    registry.create_practitioner(session, data=PractitionerCreate(
        code="HL-ZHOU", name="周敏", sex="female", title=PractitionerTitle.ATTENDING_PHYSICIAN,
        specialty="cardiology", institution_code="PKUPH-HL"))
    placed = scheduling.create_traineeship(
        session, principal=None, practitioner_code="HL-ZHOU", institution_code="PKUPH",
        department_code="CARD", start_date=today - timedelta(days=90),
        end_date=today + timedelta(days=90), today=today)
    assert placed.status is TraineeStatus.IN_TRAINING
    [listed] = scheduling.list_trainees(session, institution_ids=[world.beijing.id])
    assert listed.role.practitioner.name == "周敏"
    scheduling.set_trainee_status(session, principal=None, traineeship_id=placed.id,
                                  status=TraineeStatus.COMPLETED, today=today,
                                  assessment="优秀")
    assert (placed.status, placed.completed_on, placed.assessment) == (
        TraineeStatus.COMPLETED, today, "优秀")
    with pytest.raises(Conflict):
        scheduling.set_trainee_status(session, principal=None, traineeship_id=placed.id,
                                      status=TraineeStatus.IN_TRAINING, today=today)


def test_every_scheduling_status_and_reason_has_both_names() -> None:
    from yilian.scheduling import labels

    for enum_type, names in labels.NAMES.items():
        assert set(names) == {member.value for member in enum_type}, enum_type
        assert all(zh and en for zh, en in names.values())
