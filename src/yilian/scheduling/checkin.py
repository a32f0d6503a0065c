"""Self check-in 自助到诊, the clinic's queue, and no-shows.

A patient checks in by appointment code or resident ID inside a window around the slot's
start (by default 60 minutes before to 15 after) and gets the next queue number of that
clinic session and day. The doctor calls the next patient in (checked-in), then finishes
(fulfilled). Booked appointments whose window has closed become no-shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.patients import matching
from yilian.patients import service as patients
from yilian.patients.resident_id import ResidentIdError
from yilian.scheduling import booking, statuses
from yilian.scheduling.models import Appointment, AppointmentStatus, ClinicSession

S = AppointmentStatus


@dataclass(frozen=True)
class CheckinWindow:
    """How long before and after a slot's start a patient may check in."""

    before: timedelta
    after: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckinWindow:
        """The configured window."""
        return cls(timedelta(minutes=settings.scheduling_checkin_open_minutes),
                   timedelta(minutes=settings.scheduling_checkin_close_minutes))


def window_position(*, start_at: datetime, now: datetime, window: CheckinWindow) -> int:
    """-1 too early, 0 inside the check-in window, 1 too late."""
    if now < start_at - window.before:
        return -1
    if now > start_at + window.after:
        return 1
    return 0


def _find_by_id_number(
    session: Session, settings: Settings, *, id_number: str, now: datetime, window: CheckinWindow
) -> Appointment | None:
    try:
        hashed = matching.id_hashes(cipher_from_settings(settings), id_number)
    except ResidentIdError as error:
        raise InvalidInput("bad_id_number", "身份证号无效", "Not a valid resident ID") from error
    person = patients.person_holding_id(session, id_hashes=hashed)
    if person is None:
        return None
    return session.scalars(
        select(Appointment).where(
            Appointment.person_id == person.id, Appointment.status == S.BOOKED,
            Appointment.start_at >= now - window.after,
            Appointment.start_at <= now + window.before,
        ).order_by(Appointment.start_at)
    ).first()


def check_in(
    session: Session,
    *,
    principal: Principal,
    settings: Settings,
    code: str = "",
    id_number: str = "",
    now: datetime | None = None,
) -> Appointment:
    """Check a patient in by appointment code or resident ID; a queue number is issued."""
    authorize(principal, Action.APPOINTMENT_CHECKIN)
    now = now or utcnow()
    window = CheckinWindow.from_settings(settings)
    if code.strip():
        appointment = session.scalars(
            select(Appointment).where(Appointment.code == code.strip().upper())
        ).first()
    elif id_number.strip():
        appointment = _find_by_id_number(session, settings, id_number=id_number.strip(),
                                         now=now, window=window)
    else:
        raise InvalidInput("checkin_needs_code", "请输入预约码或身份证号",
                           "Enter the appointment code or the resident ID")
    if appointment is None or not _may_check_in(session, principal, appointment):
        raise NotFound("预约", "Appointment", code.strip().upper() or "ID")
    if appointment.status in (S.ARRIVED, S.CHECKED_IN):
        raise Conflict("already_checked_in",
                       f"已签到，排队号 {appointment.queue_number}",
                       f"Already checked in: queue number {appointment.queue_number}")
    position = window_position(start_at=appointment.start_at, now=now, window=window)
    if position < 0:
        raise Conflict("checkin_too_early", "尚未到签到时间（就诊前 "
                       f"{settings.scheduling_checkin_open_minutes} 分钟起可签到）",
                       "Too early to check in (opens "
                       f"{settings.scheduling_checkin_open_minutes} minutes before)")
    if position > 0 and appointment.status is S.BOOKED:
        raise Conflict("checkin_too_late", "已过签到时间，请到窗口处理",
                       "Too late to check in; please go to the desk")
    statuses.change(session, appointment=appointment, to=S.ARRIVED, note="self check-in")
    appointment.queue_number = _next_queue_number(session, appointment=appointment)
    audit.record(session, action="appointment.checkin", entity_type="appointment",
                 entity_id=str(appointment.id), institution_id=appointment.institution_id,
                 patient_id=appointment.person_id)
    session.flush()
    return appointment


def _may_check_in(session: Session, principal: Principal, appointment: Appointment) -> bool:
    if principal.role is Role.PATIENT:
        return booking.may_see(session, principal, appointment)
    return principal.is_network_wide or appointment.institution_id in principal.institution_ids


def _next_queue_number(session: Session, *, appointment: Appointment) -> int:
    # Lock the clinic session's row so two check-ins never draw the same number.
    session.execute(select(ClinicSession.id).where(
        ClinicSession.id == appointment.clinic_session_id).with_for_update())
    highest = session.scalar(
        select(func.max(Appointment.queue_number)).where(
            Appointment.clinic_session_id == appointment.clinic_session_id,
            Appointment.session_date == appointment.session_date,
        )
    )
    return int(highest or 0) + 1


@dataclass(frozen=True)
class Queue:
    """A clinic's queue on one day: who is being seen, who waits (in order), how many seen."""

    clinic: ClinicSession
    day: date
    in_room: list[Appointment]
    waiting: list[Appointment]
    seen: int


def queue(session: Session, *, clinic: ClinicSession, day: date) -> Queue:
    """The clinic's queue on a day (audited: it names patients)."""
    rows = list(session.scalars(
        select(Appointment).where(
            Appointment.clinic_session_id == clinic.id, Appointment.session_date == day,
            Appointment.status.in_([S.ARRIVED, S.CHECKED_IN, S.FULFILLED]),
        ).order_by(Appointment.queue_number, Appointment.id)
    ))
    audit.record(session, action="appointment.queue", entity_type="clinic_session",
                 entity_id=str(clinic.id), institution_id=clinic.institution_id,
                 detail={"day": day.isoformat(), "patients": [row.person_id for row in rows]})
    return Queue(
        clinic=clinic, day=day,
        in_room=[row for row in rows if row.status is S.CHECKED_IN],
        waiting=[row for row in rows if row.status is S.ARRIVED],
        seen=sum(1 for row in rows if row.status is S.FULFILLED),
    )


def queue_for(
    session: Session, *, principal: Principal, clinic: ClinicSession, day: date
) -> Queue:
    """The queue, for staff of the institution holding the clinic."""
    authorize(principal, Action.APPOINTMENT_MANAGE, [clinic.institution_id])
    return queue(session, clinic=clinic, day=day)


def call_next(
    session: Session, *, principal: Principal, clinic: ClinicSession, day: date
) -> Appointment | None:
    """Finish whoever is in the room and call the next waiting patient in (None: no one)."""
    authorize(principal, Action.APPOINTMENT_MANAGE, [clinic.institution_id])
    current = queue(session, clinic=clinic, day=day)
    for appointment in current.in_room:
        statuses.change(session, appointment=appointment, to=S.FULFILLED, note="seen")
    called = current.waiting[0] if current.waiting else None
    if called is not None:
        statuses.change(session, appointment=called, to=S.CHECKED_IN, note="called in")
    session.flush()
    return called


def set_status(
    session: Session, *, principal: Principal, appointment: Appointment,
    status: AppointmentStatus, settings: Settings, note: str = "",
) -> Appointment:
    """Staff move an appointment along (FHIR status rules; cancelling frees the slot)."""
    if status is S.CANCELLED:
        return booking.cancel(session, principal=principal, appointment=appointment,
                              settings=settings)
    authorize(principal, Action.APPOINTMENT_MANAGE, [appointment.institution_id])
    statuses.change(session, appointment=appointment, to=status, note=note)
    if status in statuses.RELEASING_SLOT:
        booking.release_slot(session, slot_id=appointment.slot_id)
    session.flush()
    return appointment


def mark_noshow(session: Session, *, settings: Settings, now: datetime | None = None) -> int:
    """Booked appointments whose check-in window has closed become no-shows; how many."""
    now = now or utcnow()
    late = now - timedelta(minutes=settings.scheduling_checkin_close_minutes)
    overdue = list(session.scalars(
        select(Appointment).where(Appointment.status == S.BOOKED, Appointment.start_at < late)
        .order_by(Appointment.id)
    ))
    for appointment in overdue:
        statuses.change(session, appointment=appointment, to=S.NOSHOW,
                        note="check-in window closed")
    session.flush()
    return len(overdue)

