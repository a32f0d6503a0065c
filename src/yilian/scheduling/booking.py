"""Remote booking 远程挂号: real-name appointments on clinic slots, and cancelling them.

A slot is claimed by one conditional UPDATE (``status = 'free'`` → ``'busy'``): of any
number of concurrent requests for it exactly one changes the row, the database serialising
them, and every other one gets a clear "full" 409. Patients book for themselves
(``Principal.person_id``); staff book for patients they may see. The patient's own rules —
no two overlapping appointments, at most N with one department a day — are checked with
the person's row locked, so two parallel bookings of one patient cannot both pass.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings, get_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.scheduling import notices, slots, statuses
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    BookingSource,
    CancelReason,
    Slot,
    SlotStatus,
)

# Appointment codes: 8 characters without look-alikes (0/O, 1/I/L): 31⁸ ≈ 8.5 × 10¹¹.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


class SlotFull(Conflict):
    """The slot was taken by someone else (HTTP 409)."""

    def __init__(self) -> None:
        super().__init__("slot_full", "号源已满，请选择其他时段",
                         "This slot is full (already booked); choose another time")


def new_code() -> str:
    """A short, unguessable appointment code the patient shows or types at check-in."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Whether two time ranges share a moment (touching ends do not overlap)."""
    return a_start < b_end and b_start < a_end


def within_cancel_cutoff(*, start_at: datetime, now: datetime, cutoff_hours: int) -> bool:
    """Whether it is still early enough to cancel an appointment starting at ``start_at``."""
    return now <= start_at - timedelta(hours=cutoff_hours)


def patient_for(session: Session, principal: Principal, *, person_id: int) -> Person:
    """The person a booking is for: a patient only themselves, staff those they may see.

    404 otherwise (the index does not tell who exists); the read is audited.
    """
    if principal.role is Role.PATIENT:
        person = patients.current_person(session, person_id=person_id)
        if principal.person_id is None or person is None or person.id != (
            patients.current_person(session, person_id=principal.person_id) or person
        ).id:
            raise NotFound("患者", "Patient", person_id)
        audit.record(session, action="appointment.self", entity_type="person",
                     entity_id=str(person.id), patient_id=person.id)
        return person
    return patients.get_person_or_raise(session, principal, person_id=person_id,
                                        purpose="appointment.patient")


def _check_patient_rules(
    session: Session, settings: Settings, *, person: Person, slot: Slot
) -> None:
    holding = list(session.scalars(
        select(Appointment).where(
            Appointment.person_id == person.id,
            Appointment.status.in_(statuses.HOLDING_SLOT),
            Appointment.start_at < slot.end_at + timedelta(days=1),
            Appointment.end_at > slot.start_at - timedelta(days=1),
        )
    ))
    for other in holding:
        if overlaps(other.start_at, other.end_at, slot.start_at, slot.end_at):
            raise Conflict("appointment_overlaps", "您在该时段已有其他预约",
                           "The patient already has an appointment at that time")
    same_department = sum(
        1 for other in holding
        if other.department_id == slot.department_id and other.session_date == slot.session_date
    )
    limit = settings.scheduling_max_per_department_day
    if same_department >= limit:
        raise Conflict("department_day_limit",
                       f"同一科室每天最多预约 {limit} 个号",
                       f"At most {limit} appointment(s) with one department per day")


def book(
    session: Session,
    *,
    principal: Principal,
    slot_id: int,
    person_id: int,
    source: BookingSource,
    source_ref: str = "",
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Book a slot for a patient (real-name); 409 "full" when someone else has it.

    The referrals capability calls this for its "book" step with ``source=referral`` and
    ``source_ref="ServiceRequest/<id>"``. Flushes only: the caller commits.
    """
    authorize(principal, Action.APPOINTMENT_BOOK)
    settings = settings or get_settings()
    slot = slots.get_slot_or_raise(session, slot_id=slot_id)
    if slot.status is not SlotStatus.FREE:  # the flash crowd's losers stop here, cheaply
        raise SlotFull()
    person = patient_for(session, principal, person_id=person_id)
    if slot.start_at <= (now or utcnow()):
        raise Conflict("slot_past", "该时段已过，不能预约", "This slot is in the past")
    # Lock the patient's row: their own rules hold even against their parallel requests.
    session.execute(select(Person.id).where(Person.id == person.id).with_for_update())
    _check_patient_rules(session, settings, person=person, slot=slot)
    claimed = session.execute(
        update(Slot).where(Slot.id == slot.id, Slot.status == SlotStatus.FREE)
        .values(status=SlotStatus.BUSY).execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise SlotFull()
    session.expire(slot, ["status"])
    clinic = slot.clinic_session
    appointment = Appointment(
        code=new_code(), slot_id=slot.id, person_id=person.id,
        practitioner_id=slot.practitioner_id, department_id=slot.department_id,
        institution_id=clinic.institution_id, clinic_session_id=clinic.id,
        session_date=slot.session_date, start_at=slot.start_at, end_at=slot.end_at,
        status=AppointmentStatus.BOOKED, source=source, source_ref=source_ref[:64],
        booked_by_user_id=principal.user_id,
    )
    statuses.begin(session, appointment=appointment, note=f"{source.value} {source_ref}".strip())
    session.add(appointment)
    session.flush()
    return appointment


def get_or_raise(session: Session, principal: Principal, *, appointment_id: int) -> Appointment:
    """An appointment of a patient the principal may see (their own, for a patient); audited."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or not may_see(session, principal, appointment):
        raise NotFound("预约", "Appointment", appointment_id)
    audit.record(session, action="appointment.read", entity_type="appointment",
                 entity_id=str(appointment.id), institution_id=appointment.institution_id,
                 patient_id=appointment.person_id)
    return appointment


def may_see(session: Session, principal: Principal, appointment: Appointment) -> bool:
    """A patient sees their own appointments; staff those of patients they may see."""
    if principal.role is Role.PATIENT:
        if principal.person_id is None:
            return False
        own = patients.current_person(session, person_id=principal.person_id)
        return own is not None and appointment.person_id == own.id
    person = session.get(Person, appointment.person_id)
    return person is not None and patients.can_view(session, principal, person)


def list_for_person(session: Session, *, person_id: int) -> list[Appointment]:
    """A person's appointments, soonest first (the caller has checked access and audits)."""
    return list(session.scalars(
        select(Appointment).where(Appointment.person_id == person_id)
        .order_by(Appointment.start_at.desc(), Appointment.id.desc())
    ))


def my_appointments(session: Session, principal: Principal) -> list[Appointment]:
    """The signed-in patient's appointments; audited."""
    if principal.person_id is None:
        return []
    found = list_for_person(session, person_id=principal.person_id)
    audit.record(session, action="appointment.list", entity_type="person",
                 entity_id=str(principal.person_id), patient_id=principal.person_id,
                 detail={"count": len(found)})
    return found


def cancel(
    session: Session,
    *,
    principal: Principal,
    appointment: Appointment,
    settings: Settings,
    now: datetime | None = None,
    reason: str = "",
) -> Appointment:
    """Cancel an appointment before the cut-off; the slot is free again.

    ``reason`` (the desk asks for one) is kept in the appointment's status history.
    """
    now = now or utcnow()
    if not within_cancel_cutoff(start_at=appointment.start_at, now=now,
                                cutoff_hours=settings.scheduling_cancel_cutoff_hours):
        hours = settings.scheduling_cancel_cutoff_hours
        raise Conflict("cancel_too_late", f"就诊前 {hours} 小时内不能取消预约",
                       f"Appointments cannot be cancelled within {hours} hours of the visit")
    note = f"cancelled by {principal.username}"
    if reason.strip():
        note = f"{note}: {reason.strip()}"
    statuses.change(session, appointment=appointment, to=AppointmentStatus.CANCELLED,
                    note=note[:200])
    appointment.cancel_reason = (
        CancelReason.PATIENT if principal.role is Role.PATIENT else CancelReason.STAFF
    )
    release_slot(session, slot_id=appointment.slot_id)
    session.flush()
    return appointment


def release_slot(session: Session, *, slot_id: int) -> None:
    """Give a booked slot back (it stays unavailable when its clinic was called off)."""
    session.execute(
        update(Slot).where(Slot.id == slot_id, Slot.status == SlotStatus.BUSY)
        .values(status=SlotStatus.FREE).execution_options(synchronize_session=False)
    )
    found = session.identity_map.get(session.identity_key(Slot, slot_id))
    if found is not None:
        session.expire(found, ["status"])


def rebook_from_notice(
    session: Session,
    *,
    principal: Principal,
    notice_id: int,
    slot_id: int,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Take one of the slots a reschedule notice offered (the patient's own notice)."""
    if principal.person_id is None:
        raise NotFound("通知", "Notice", notice_id)
    notice = notices.get_notice_or_raise(session, notice_id=notice_id,
                                         person_id=principal.person_id)
    if slot_id not in notice.offered_ids or notice.resolved_at is not None:
        raise Conflict("not_offered", "该时段不在改约通知中", "That slot was not offered")
    appointment = book(session, principal=principal, slot_id=slot_id,
                       person_id=notice.person_id, source=BookingSource.ONLINE,
                       source_ref=f"Appointment/{notice.appointment_id}", settings=settings,
                       now=now)
    notices.resolve(notice)
    session.flush()
    return appointment


def count_holding(session: Session, *, clinic_session_id: int) -> int:
    """Appointments holding a slot of the clinic (for checks and the benchmark)."""
    return int(session.scalar(
        select(func.count()).select_from(Appointment).where(
            Appointment.clinic_session_id == clinic_session_id,
            Appointment.status.in_(statuses.HOLDING_SLOT),
        )
    ) or 0)


# ---------------------------------------------------------------- the registration desk

# Sources a registration clerk or nurse books with at the desk: 窗口 in person, 电话 by phone.
DESK_SOURCES = frozenset({BookingSource.WINDOW, BookingSource.PHONE})


def authorize_desk(principal: Principal, *, institution_id: int) -> None:
    """The desk of an institution is its own staff's (or the platform administrator's)."""
    authorize(principal, Action.APPOINTMENT_MANAGE, [institution_id])


def book_at_desk(
    session: Session,
    *,
    principal: Principal,
    slot_id: int,
    person_id: int,
    source: BookingSource,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Book a slot of the desk's own institution for a patient at the window or by phone.

    The same rules as every booking (real-name, no overlap, the per-department day limit,
    one patient per slot); 403 for a slot of another institution's clinic.
    """
    if source not in DESK_SOURCES:
        raise InvalidInput("desk_source", "请选择窗口或电话预约", "Choose window or phone")
    slot = slots.get_slot_or_raise(session, slot_id=slot_id)
    authorize_desk(principal, institution_id=slot.clinic_session.institution_id)
    return book(session, principal=principal, slot_id=slot.id, person_id=person_id,
                source=source, source_ref=f"desk:{principal.username}", settings=settings,
                now=now)


def cancel_at_desk(
    session: Session,
    *,
    principal: Principal,
    appointment: Appointment,
    reason: str,
    settings: Settings,
    now: datetime | None = None,
) -> Appointment:
    """Cancel a booking at the desk of its institution; a reason is required."""
    authorize_desk(principal, institution_id=appointment.institution_id)
    if not reason.strip():
        raise InvalidInput("cancel_reason_required", "请填写取消原因",
                           "Give the reason for cancelling")
    return cancel(session, principal=principal, appointment=appointment, settings=settings,
                  now=now, reason=reason)


def upcoming_for_person(
    session: Session, *, person_id: int, institution_ids: frozenset[int] | None, now: datetime
) -> list[Appointment]:
    """A person's appointments still holding a slot from now on, at these institutions
    (all, for None), soonest first; audited (the caller has checked access)."""
    statement = select(Appointment).where(
        Appointment.person_id == person_id, Appointment.status.in_(statuses.HOLDING_SLOT),
        Appointment.end_at > now,
    ).order_by(Appointment.start_at, Appointment.id)
    if institution_ids is not None:
        statement = statement.where(Appointment.institution_id.in_(institution_ids))
    found = list(session.scalars(statement))
    audit.record(session, action="appointment.list", entity_type="person",
                 entity_id=str(person_id), patient_id=person_id,
                 detail={"count": len(found), "upcoming": True})
    return found
