"""Scheduling REST API: stationed experts, clinic sessions and slots, booking, check-in,
the clinic queue and trainees.

Everyone signed in may read rosters, sessions and free slots. Booking, check-in, queue and
trainee changes are declared with ``RequirePermission``; an appointment of a patient the
user may not see is a 404. Losing a slot to someone else is a 409 with code ``slot_full``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import Conflict, InvalidInput
from yilian.registry import service as registry
from yilian.scheduling import service as scheduling
from yilian.scheduling.clock import Now, Today
from yilian.scheduling.models import Appointment, ClinicSession, Slot, SlotStatus
from yilian.scheduling.schemas import (
    AppointmentCreate,
    AppointmentRead,
    CancelRequest,
    CheckinRequest,
    ClinicSessionCreate,
    ClinicSessionRead,
    ExceptionCreate,
    ExceptionRead,
    SlotRead,
    StationingCreate,
    StationingRead,
    StatusChange,
    TraineeCreate,
    TraineeRead,
    TraineeStatusUpdate,
)
from yilian.scheduling.stationing import StationedExpert, Trainee
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(
    prefix="/api/v1/scheduling",
    tags=["scheduling"],
    dependencies=[RequirePermission(Action.SCHEDULE_READ)],
)

Scheduler = Annotated[Principal, RequirePermission(Action.SCHEDULE_WRITE)]
Stationer = Annotated[Principal, RequirePermission(Action.STATIONING_WRITE)]
Booker = Annotated[Principal, RequirePermission(Action.APPOINTMENT_BOOK)]
Manager = Annotated[Principal, RequirePermission(Action.APPOINTMENT_MANAGE)]
CheckinDesk = Annotated[Principal, RequirePermission(Action.APPOINTMENT_CHECKIN)]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many")]


def stationing_read(entry: StationedExpert) -> StationingRead:
    """A roster entry as the API shows it."""
    role = entry.role
    return StationingRead(
        id=entry.stationing.id, practitioner_role_id=role.id,
        practitioner_id=role.practitioner_id, practitioner_name=role.practitioner.name,
        home_institution_id=role.practitioner.institution_id, institution_id=role.institution_id,
        department_id=role.department_id, mode=entry.stationing.mode,
        role=entry.stationing.role, start_date=role.start_date, end_date=role.end_date,
        days_on_site=entry.days_on_site,
    )


def trainee_read(entry: Trainee) -> TraineeRead:
    """A trainee as the API shows them."""
    role, traineeship = entry.role, entry.traineeship
    return TraineeRead(
        id=traineeship.id, practitioner_role_id=role.id, practitioner_id=role.practitioner_id,
        practitioner_name=role.practitioner.name,
        home_institution_id=role.practitioner.institution_id,
        institution_id=role.institution_id, department_id=role.department_id,
        start_date=role.start_date, end_date=role.end_date, status=traineeship.status,
        completed_on=traineeship.completed_on, assessment=traineeship.assessment,
    )


def _current_appointment(
    appointment_id: Key, session: DbSession, principal: CurrentPrincipal
) -> Appointment:
    return scheduling.get_or_raise(session, principal, appointment_id=appointment_id)


def _current_clinic(clinic_session_id: Key, session: DbSession) -> ClinicSession:
    return scheduling.get_session_or_raise(session, clinic_session_id=clinic_session_id)


CurrentAppointment = Annotated[Appointment, Depends(_current_appointment)]
CurrentClinic = Annotated[ClinicSession, Depends(_current_clinic)]


# ---------------------------------------------------------------- stationing


@router.get("/institutions/{institution_id}/stationings", response_model=list[StationingRead])
def list_stationings(
    institution_id: Key, session: DbSession, today: Today, all_periods: bool = False
) -> list[StationingRead]:
    """Experts stationed at an institution (in post today unless ``all_periods``)."""
    registry.get_institution_or_raise(session, institution_id=institution_id)
    roster = scheduling.list_stationed(
        session, institution_id=institution_id,
        today=today, active_only=not all_periods,
    )
    return [stationing_read(entry) for entry in roster]


@router.post("/stationings", response_model=StationingRead, status_code=201)
def create_stationing(
    body: StationingCreate, session: DbSession, settings: AppSettings, principal: Stationer
) -> StationingRead:
    """Station an expert in a partner department (creates the registry role too)."""
    stationing = scheduling.create_stationing(session, principal=principal,
                                              **body.model_dump())
    role = registry.get_role_or_raise(session, role_id=stationing.practitioner_role_id)
    return stationing_read(StationedExpert(stationing, role, 0))


# ---------------------------------------------------------------- sessions and slots


@router.get("/sessions", response_model=list[ClinicSessionRead])
def list_sessions(
    session: DbSession,
    practitioner_id: Key | None = None,
    department_id: Key | None = None,
    institution_id: Key | None = None,
    limit: Limit = 200,
) -> list[ClinicSession]:
    """Recurring clinics, by expert, department or institution."""
    statement = select(ClinicSession).order_by(ClinicSession.weekday, ClinicSession.start_time,
                                               ClinicSession.id).limit(limit)
    for column, value in ((ClinicSession.practitioner_id, practitioner_id),
                          (ClinicSession.department_id, department_id),
                          (ClinicSession.institution_id, institution_id)):
        if value is not None:
            statement = statement.where(column == value)
    return list(session.scalars(statement))


@router.post("/sessions", response_model=ClinicSessionRead, status_code=201)
def create_session(
    body: ClinicSessionCreate, session: DbSession, settings: AppSettings, principal: Scheduler,
    today: Today,
) -> ClinicSession:
    """Add a recurring clinic and generate its slots for the configured horizon."""
    data = body.model_dump()
    data["start"] = data.pop("start_time")
    clinic = scheduling.create_session(session, principal=principal,
                                       plan=scheduling.SessionPlan(**data))
    scheduling.generate(session, today=today,
                        horizon_days=settings.scheduling_horizon_days,
                        zone=settings.scheduling_timezone, clinic_sessions=[clinic])
    return clinic


@router.get("/slots", response_model=list[SlotRead])
def list_slots(
    session: DbSession,
    now: Now,
    practitioner_id: Key | None = None,
    department_id: Key | None = None,
    clinic_session_id: Key | None = None,
    day: date | None = None,
    free_only: bool = True,
    limit: Limit = 100,
) -> list[Slot]:
    """Slots from now on (free ones unless ``free_only=false``), soonest first."""
    if practitioner_id is None and department_id is None and clinic_session_id is None:
        raise InvalidInput("slots_need_filter", "请指定专家、科室或出诊安排",
                           "Give practitioner_id, department_id or clinic_session_id")
    statement = select(Slot).where(Slot.start_at > now).order_by(Slot.start_at, Slot.id)
    for column, value in ((Slot.practitioner_id, practitioner_id),
                          (Slot.department_id, department_id),
                          (Slot.clinic_session_id, clinic_session_id),
                          (Slot.session_date, day)):
        if value is not None:
            statement = statement.where(column == value)
    if free_only:
        statement = statement.where(Slot.status == SlotStatus.FREE)
    return list(session.scalars(statement.limit(limit)))


@router.post("/exceptions", response_model=ExceptionRead, status_code=201)
def add_exception(
    body: ExceptionCreate, session: DbSession, principal: Scheduler
) -> ExceptionRead:
    """Call clinics off; booked patients are cancelled with a notice offering new slots."""
    exception, cancelled = scheduling.add_exception(session, principal=principal,
                                                    **body.model_dump())
    return ExceptionRead(id=exception.id, kind=exception.kind, start_date=exception.start_date,
                         end_date=exception.end_date, cancelled_appointments=len(cancelled))


# ---------------------------------------------------------------- appointments


def refusal_answer(session: Session, error: Conflict, *, slot_id: Key) -> JSONResponse:
    """The 409 a refused booking gets (``slot_full`` when it lost the slot), its refusal
    audited in this transaction.

    Answered here rather than by the application's error handler: that one audits refusals
    in a transaction of its own, opened on the event loop, and a flash crowd of losers
    holding every pooled connection would wait on each other there.
    """
    audit.record(session, action="appointment.book", outcome=AuditOutcome.FAILED,
                 entity_type="slot", entity_id=str(slot_id), detail={"code": error.code})
    return JSONResponse({"code": error.code, "detail": error.message(current_language.get()),
                         "message_zh": error.zh, "message_en": error.en}, status_code=409)


@router.post("/appointments", response_model=AppointmentRead, status_code=201,
             responses={409: {"description": "The slot is full (code slot_full), or the "
                              "patient's own limits forbid it"}})
def book(
    body: AppointmentCreate, session: DbSession, settings: AppSettings, principal: Booker,
    now: Now,
) -> Appointment | JSONResponse:
    """Book a slot for a patient (a patient's account books for itself); 409 when full."""
    person_id = body.person_id if body.person_id is not None else principal.person_id
    if person_id is None:
        raise InvalidInput("person_required", "请指定患者", "person_id is required")
    try:
        return scheduling.book(session, principal=principal, slot_id=body.slot_id,
                               person_id=person_id, source=body.source,
                               source_ref=body.source_ref, settings=settings, now=now)
    except Conflict as error:  # nothing was written: the refusal's audit row commits alone
        return refusal_answer(session, error, slot_id=body.slot_id)


@router.get("/appointments/mine", response_model=list[AppointmentRead])
def my_appointments(session: DbSession, principal: CurrentPrincipal) -> list[Appointment]:
    """The signed-in patient's appointments, latest first."""
    return scheduling.my_appointments(session, principal)


@router.get("/appointments/{appointment_id}", response_model=AppointmentRead)
def read_appointment(appointment: CurrentAppointment) -> Appointment:
    """One appointment (the patient's own, or one of a patient the user may see)."""
    return appointment


@router.post("/appointments/{appointment_id}/cancel", response_model=AppointmentRead)
def cancel(
    appointment: CurrentAppointment, session: DbSession, settings: AppSettings,
    principal: CurrentPrincipal, now: Now, body: CancelRequest | None = None,
) -> Appointment:
    """Cancel before the cut-off, optionally with a reason kept in the appointment's
    history; the slot is free again."""
    return scheduling.cancel(session, principal=principal, appointment=appointment,
                             settings=settings, now=now, reason=body.reason if body else "")


@router.post("/appointments/{appointment_id}/status", response_model=AppointmentRead)
def change_status(
    body: StatusChange, appointment: CurrentAppointment, session: DbSession,
    settings: AppSettings, principal: Manager,
) -> Appointment:
    """Move an appointment along FHIR's status rules (illegal changes are 409)."""
    return scheduling.set_status(session, principal=principal, appointment=appointment,
                                 status=body.status, settings=settings, note=body.note)


@router.post("/checkin", response_model=AppointmentRead)
def check_in(
    body: CheckinRequest, session: DbSession, settings: AppSettings, principal: CheckinDesk,
    now: Now,
) -> Appointment:
    """Check in by appointment code or resident ID inside the window; a queue number."""
    return scheduling.check_in(session, principal=principal, settings=settings,
                               code=body.code, id_number=body.id_number, now=now)


@router.get("/sessions/{clinic_session_id}/queue", response_model=list[AppointmentRead])
def read_queue(
    clinic: CurrentClinic, session: DbSession, today: Today, principal: Manager,
    day: date | None = None,
) -> list[Appointment]:
    """The clinic's queue on a day: in the room first, then waiting by number."""
    current = scheduling.queue_for(
        session, principal=principal, clinic=clinic,
        day=day or today,
    )
    return [*current.in_room, *current.waiting]


@router.post("/sessions/{clinic_session_id}/call-next", response_model=AppointmentRead | None)
def call_next(
    clinic: CurrentClinic, session: DbSession, today: Today, principal: Manager,
    day: date | None = None,
) -> Appointment | None:
    """Finish whoever is in the room and call the next patient in."""
    return scheduling.call_next(
        session, principal=principal, clinic=clinic,
        day=day or today,
    )


# ---------------------------------------------------------------- trainees


@router.get("/trainees", response_model=list[TraineeRead])
def list_trainees(session: DbSession, principal: Stationer) -> list[TraineeRead]:
    """Trainees placed at the user's institutions (all, for the platform)."""
    reach = None if principal.is_network_wide else sorted(principal.institution_ids)
    return [trainee_read(entry)
            for entry in scheduling.list_trainees(session, institution_ids=reach)]


@router.post("/trainees", response_model=TraineeRead, status_code=201)
def create_trainee(
    body: TraineeCreate, session: DbSession, today: Today, principal: Stationer
) -> TraineeRead:
    """Place a partner hospital's practitioner in a department for a period."""
    traineeship = scheduling.create_traineeship(
        session, principal=principal, today=today,
        **body.model_dump(),
    )
    role = registry.get_role_or_raise(session, role_id=traineeship.practitioner_role_id)
    return trainee_read(Trainee(traineeship, role))


@router.post("/trainees/{traineeship_id}/status", response_model=TraineeRead)
def update_trainee(
    traineeship_id: Key, body: TraineeStatusUpdate, session: DbSession,
    today: Today, principal: Stationer,
) -> TraineeRead:
    """Start, complete (with an assessment) or withdraw a traineeship."""
    traineeship = scheduling.set_trainee_status(
        session, principal=principal, traineeship_id=traineeship_id, status=body.status,
        today=today, assessment=body.assessment,
    )
    role = registry.get_role_or_raise(session, role_id=traineeship.practitioner_role_id)
    return trainee_read(Trainee(traineeship, role))

