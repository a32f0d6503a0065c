"""Clinic sessions (FHIR Schedule), the slots generated from them (FHIR Slot), and the
exceptions — holidays, an expert's absence — that call clinics off.

Slots are generated ahead for a horizon; generating again adds only what is missing, so
the CLI may run every night. Calling a clinic off marks its slots unavailable and, for
every patient already booked, cancels the appointment and leaves a notice offering the next
free slots (see :func:`yilian.scheduling.notices.create_notice`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.errors import InvalidInput, NotFound
from yilian.registry import service as registry
from yilian.scheduling import notices, statuses
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    CancelReason,
    ClinicSession,
    ExceptionKind,
    HalfDay,
    ScheduleException,
    Slot,
    SlotStatus,
)

DEFAULT_ZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class SessionPlan:
    """What a recurring clinic is: every ``weekday`` (0 = Monday) at ``start``."""

    practitioner_id: int
    department_id: int
    weekday: int
    half_day: HalfDay
    start: time
    slot_minutes: int
    slot_count: int
    valid_from: date
    valid_to: date | None = None


def local_today(zone: str = DEFAULT_ZONE) -> date:
    """Today's date where the clinics are."""
    return datetime.now(ZoneInfo(zone)).date()


def create_session(
    session: Session, *, principal: Principal | None, plan: SessionPlan
) -> ClinicSession:
    """A recurring clinic of an expert in a department (no slots yet: see generate)."""
    department = registry.get_department_or_raise(session, department_id=plan.department_id)
    registry.get_practitioner_or_raise(session, practitioner_id=plan.practitioner_id)
    if principal is not None:
        authorize(principal, Action.SCHEDULE_WRITE, [department.institution_id])
    if not 0 <= plan.weekday <= 6:
        raise InvalidInput("bad_weekday", "星期须为 0（周一）至 6（周日）",
                           "weekday must be 0 (Monday) to 6 (Sunday)")
    clinic = ClinicSession(
        practitioner_id=plan.practitioner_id, institution_id=department.institution_id,
        department_id=department.id, weekday=plan.weekday, half_day=plan.half_day,
        start_time=plan.start, slot_minutes=plan.slot_minutes, slot_count=plan.slot_count,
        valid_from=plan.valid_from, valid_to=plan.valid_to,
    )
    session.add(clinic)
    session.flush()
    return clinic


def get_session_or_raise(session: Session, *, clinic_session_id: int) -> ClinicSession:
    """The clinic session with this id, or 404."""
    clinic = session.get(ClinicSession, clinic_session_id)
    if clinic is None:
        raise NotFound("出诊安排", "Clinic session", clinic_session_id)
    return clinic


def get_slot_or_raise(session: Session, *, slot_id: int) -> Slot:
    """The slot with this id, or 404."""
    slot = session.get(Slot, slot_id)
    if slot is None:
        raise NotFound("号源", "Slot", slot_id)
    return slot


def clinic_dates(clinic: ClinicSession, *, first: date, last: date) -> Iterator[date]:
    """The days between first and last (inclusive) on which the clinic is held."""
    day = max(first, clinic.valid_from)
    day += timedelta(days=(clinic.weekday - day.weekday()) % 7)
    end = min(last, clinic.valid_to) if clinic.valid_to else last
    while day <= end:
        yield day
        day += timedelta(days=7)


def slot_times(
    clinic: ClinicSession, day: date, zone: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Start and end (UTC) of each slot of the clinic on that day, in local clock time."""
    first = datetime.combine(day, clinic.start_time, tzinfo=zone)
    length = timedelta(minutes=clinic.slot_minutes)
    for index in range(clinic.slot_count):
        start = first + index * length
        yield start.astimezone(UTC), (start + length).astimezone(UTC)


def _excepted(exceptions: Sequence[ScheduleException], clinic: ClinicSession, day: date) -> bool:
    return any(
        exception.start_date <= day <= exception.end_date
        and (exception.institution_id in (None, clinic.institution_id))
        and (exception.practitioner_id in (None, clinic.practitioner_id))
        for exception in exceptions
    )


def generate(
    session: Session, *, today: date, horizon_days: int, zone: str = DEFAULT_ZONE,
    clinic_sessions: Sequence[ClinicSession] | None = None,
) -> int:
    """Create the missing slots of every clinic from today for ``horizon_days``; how many.

    Idempotent: slots that exist (booked, free or called off) are left alone, and days an
    exception covers get none.
    """
    local = ZoneInfo(zone)
    last = today + timedelta(days=horizon_days - 1)
    clinics = list(clinic_sessions) if clinic_sessions is not None else list(
        session.scalars(select(ClinicSession).where(
            or_(ClinicSession.valid_to.is_(None), ClinicSession.valid_to >= today)
        ).order_by(ClinicSession.id))
    )
    if not clinics:
        return 0
    exceptions = session.scalars(
        select(ScheduleException).where(
            ScheduleException.end_date >= today, ScheduleException.start_date <= last
        )
    ).all()
    existing = {
        (clinic_id, start.replace(tzinfo=UTC) if start.tzinfo is None else start)
        for clinic_id, start in session.execute(
            select(Slot.clinic_session_id, Slot.start_at).where(
                Slot.clinic_session_id.in_([clinic.id for clinic in clinics]),
                Slot.session_date >= today, Slot.session_date <= last,
            )
        )
    }
    rows = []
    for clinic in clinics:
        for day in clinic_dates(clinic, first=today, last=last):
            if _excepted(exceptions, clinic, day):
                continue
            for start, end in slot_times(clinic, day, local):
                if (clinic.id, start) in existing:
                    continue
                rows.append({
                    "clinic_session_id": clinic.id, "practitioner_id": clinic.practitioner_id,
                    "department_id": clinic.department_id, "session_date": day,
                    "start_at": start, "end_at": end, "status": SlotStatus.FREE,
                })
    if rows:
        session.execute(insert(Slot), rows)
    return len(rows)


def free_slots(
    session: Session,
    *,
    after: datetime,
    practitioner_ids: Collection[int] | None = None,
    department_id: int | None = None,
    limit: int = 100,
    exclude_ids: Sequence[int] = (),
    institution_ids: Collection[int] | None = None,
) -> list[Slot]:
    """Free slots starting after ``after`` of these experts or a department (of clinics held
    at these institutions, when given), soonest first. ``None`` leaves a filter out; an empty
    collection matches nothing."""
    statement = (
        select(Slot).where(Slot.status == SlotStatus.FREE, Slot.start_at > after)
        .order_by(Slot.start_at, Slot.id).limit(limit)
    )
    if institution_ids is not None:
        statement = statement.where(Slot.clinic_session_id.in_(
            select(ClinicSession.id).where(ClinicSession.institution_id.in_(institution_ids))))
    if practitioner_ids is not None:
        statement = statement.where(Slot.practitioner_id.in_(practitioner_ids))
    if department_id is not None:
        statement = statement.where(Slot.department_id == department_id)
    if exclude_ids:
        statement = statement.where(Slot.id.not_in(exclude_ids))
    return list(session.scalars(statement))


def add_exception(
    session: Session,
    *,
    principal: Principal | None,
    kind: ExceptionKind,
    start_date: date,
    end_date: date,
    institution_id: int | None = None,
    practitioner_id: int | None = None,
    reason: str = "",
    offers: int = 3,
) -> tuple[ScheduleException, list[Appointment]]:
    """Call clinics off: an institution's holiday or an expert's absence; the appointments
    it cancelled (each patient gets a notice offering the next free slots)."""
    if end_date < start_date:
        raise InvalidInput("dates_not_ordered", "结束日期早于开始日期", "end date is before start")
    if kind is ExceptionKind.HOLIDAY and institution_id is None:
        raise InvalidInput("holiday_needs_institution", "节假日须指定机构",
                           "A holiday belongs to an institution")
    if kind is ExceptionKind.ABSENCE and practitioner_id is None:
        raise InvalidInput("absence_needs_expert", "停诊须指定专家",
                           "An absence belongs to an expert")
    affected = select(Slot).join(ClinicSession).where(
        Slot.session_date >= start_date, Slot.session_date <= end_date,
        Slot.status != SlotStatus.BUSY_UNAVAILABLE,
    )
    if institution_id is not None:
        affected = affected.where(ClinicSession.institution_id == institution_id)
    if practitioner_id is not None:
        affected = affected.where(Slot.practitioner_id == practitioner_id)
    slots = list(session.scalars(affected.order_by(Slot.start_at)))
    if principal is not None:
        institutions = {slot.clinic_session.institution_id for slot in slots}
        authorize(principal, Action.SCHEDULE_WRITE,
                  institutions or ([institution_id] if institution_id else None))
    exception = ScheduleException(
        kind=kind, institution_id=institution_id, practitioner_id=practitioner_id,
        start_date=start_date, end_date=end_date, reason=reason[:200],
    )
    session.add(exception)
    for slot in slots:
        slot.status = SlotStatus.BUSY_UNAVAILABLE
    session.flush()
    booked = list(session.scalars(
        select(Appointment).where(
            Appointment.slot_id.in_([slot.id for slot in slots]),
            Appointment.status.in_(statuses.HOLDING_SLOT),
        ).order_by(Appointment.start_at, Appointment.id)
    )) if slots else []
    called_off = {slot.id for slot in slots}
    for appointment in booked:
        appointment.cancel_reason = CancelReason.SESSION_CANCELLED
        statuses.change(session, appointment=appointment, to=AppointmentStatus.CANCELLED,
                        note=reason or kind.value)
        offered = next_offers(session, appointment=appointment, count=offers,
                              exclude_ids=sorted(called_off))
        notices.create_notice(session, appointment=appointment, offered=offered,
                              reason=reason, kind=kind)
    session.flush()
    return exception, booked


def next_offers(
    session: Session, *, appointment: Appointment, count: int, exclude_ids: Sequence[int]
) -> list[Slot]:
    """The next free slots of the same expert, else of the same department."""
    after = max(appointment.start_at, datetime.now(UTC))
    offered = free_slots(session, after=after, practitioner_ids=[appointment.practitioner_id],
                         limit=count, exclude_ids=exclude_ids)
    if len(offered) < count:
        offered += free_slots(
            session, after=after, department_id=appointment.department_id,
            limit=count - len(offered), exclude_ids=[*exclude_ids, *(s.id for s in offered)],
        )
    return offered



def clinic_hours(
    session: Session, *, practitioner_id: int, start: datetime, end: datetime,
    zone: str = DEFAULT_ZONE,
) -> list[tuple[datetime, datetime, ClinicSession]]:
    """When the expert holds clinic between start and end, at any institution: each clinic
    day's opening and closing (local clock time, returned in UTC) not called off by a
    holiday or absence. Consultations ask this before taking an expert's time."""
    local = ZoneInfo(zone)
    first, last = start.astimezone(local).date(), end.astimezone(local).date()
    clinics = session.scalars(select(ClinicSession).where(
        ClinicSession.practitioner_id == practitioner_id)).all()
    exceptions = session.scalars(select(ScheduleException).where(
        ScheduleException.start_date <= last, ScheduleException.end_date >= first)).all()
    hours = []
    for clinic in clinics:
        for day in clinic_dates(clinic, first=first, last=last):
            if _excepted(exceptions, clinic, day):
                continue
            opens = datetime.combine(day, clinic.start_time, tzinfo=local)
            closes = opens + timedelta(minutes=clinic.slot_minutes * clinic.slot_count)
            if opens < end and start < closes:
                hours.append((opens.astimezone(UTC), closes.astimezone(UTC), clinic))
    return sorted(hours, key=lambda entry: entry[0])


def absent_days(
    session: Session, *, practitioner_id: int, first: date, last: date,
) -> set[date]:
    """The local days between first and last on which the expert is absent 停诊."""
    days: set[date] = set()
    for absence in session.scalars(select(ScheduleException).where(
            ScheduleException.practitioner_id == practitioner_id,
            ScheduleException.kind == ExceptionKind.ABSENCE,
            ScheduleException.start_date <= last, ScheduleException.end_date >= first)):
        day = max(first, absence.start_date)
        while day <= min(last, absence.end_date):
            days.add(day)
            day += timedelta(days=1)
    return days
