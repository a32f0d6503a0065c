"""FHIR R4 Schedule, Slot and Appointment: read and search (generated routes), and
Appointment create and status change (routed here, with the booking rules of the REST API).

A clinic session is a Schedule (its actors: the expert and the department), a generated
slot a Slot, a booking an Appointment whose participants are the patient (a person of the
index), the expert and the department. Appointment.status follows the FHIR rules of
:mod:`yilian.scheduling.statuses`; an illegal change is a 409 OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.errors import InvalidInput
from yilian.fhir.bundle import FHIR_JSON, fhir_response
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.dates import instant_bounds
from yilian.fhir.search import (
    ID_PARAM,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    dates,
    int_ids,
    reference_ids,
    standard,
    strings,
)
from yilian.patients import service as patients
from yilian.scheduling import service as scheduling
from yilian.scheduling.clock import Now
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    BookingSource,
    ClinicSession,
    Slot,
)

DAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SOURCE_SYSTEM = "https://yilian.example.org/fhir/CodeSystem/booking-source"
CODE_SYSTEM = "https://yilian.example.org/fhir/sid/appointment-code"


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def schedule_to_fhir(clinic: ClinicSession) -> dict[str, Any]:
    """A clinic session as a FHIR Schedule."""
    return {
        "resourceType": "Schedule",
        "id": str(clinic.id),
        "active": True,
        "actor": [{"reference": f"Practitioner/{clinic.practitioner_id}"},
                  {"reference": f"Organization/dept-{clinic.department_id}"}],
        "planningHorizon": {"start": clinic.valid_from.isoformat(),
                            **({"end": clinic.valid_to.isoformat()} if clinic.valid_to else {})},
        "comment": (f"每{'一二三四五六日'[clinic.weekday]}{clinic.start_time:%H:%M}，"
                    f"{clinic.slot_count} 个号 × {clinic.slot_minutes} 分钟 / every "
                    f"{DAY_CODES[clinic.weekday]} {clinic.start_time:%H:%M}, "
                    f"{clinic.slot_count} slots of {clinic.slot_minutes} min"),
    }


def slot_to_fhir(slot: Slot) -> dict[str, Any]:
    """A slot as a FHIR Slot."""
    return {
        "resourceType": "Slot", "id": str(slot.id),
        "schedule": {"reference": f"Schedule/{slot.clinic_session_id}"},
        "status": slot.status.value, "start": _instant(slot.start_at),
        "end": _instant(slot.end_at),
    }


def appointment_to_fhir(appointment: Appointment) -> dict[str, Any]:
    """An appointment as a FHIR Appointment (the code as an identifier)."""
    resource: dict[str, Any] = {
        "resourceType": "Appointment", "id": str(appointment.id),
        "identifier": [{"system": CODE_SYSTEM, "value": appointment.code}],
        "status": appointment.status.value,
        "start": _instant(appointment.start_at), "end": _instant(appointment.end_at),
        "created": appointment.created_at.date().isoformat(),
        "slot": [{"reference": f"Slot/{appointment.slot_id}"}],
        "serviceCategory": [{"coding": [{"system": SOURCE_SYSTEM,
                                         "code": appointment.source.value}]}],
        "participant": [
            {"actor": {"reference": f"Patient/{appointment.person_id}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/{appointment.practitioner_id}"},
             "status": "accepted"},
            {"actor": {"reference": f"Organization/dept-{appointment.department_id}"},
             "status": "accepted"},
        ],
    }
    if appointment.source_ref:
        resource["basedOn"] = [{"reference": appointment.source_ref}]
    if appointment.queue_number is not None:
        resource["comment"] = f"排队号 / queue number {appointment.queue_number}"
    return resource


# ---------------------------------------------------------------- read and search


def _page(session: Session, statement: Select[Any], query: SearchQuery,
          to_fhir: Callable[[Any], dict[str, Any]]) -> SearchResult:
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(statement.offset(query.offset).limit(query.count)).all()
    return SearchResult([to_fhir(row) for row in rows], int(total))


def _ids(query: SearchQuery, name: str, resource_type: str | None = None) -> list[int] | None:
    clauses = query.clauses_for(name)
    if not clauses:
        return None
    found: set[int] | None = None
    for clause in clauses:
        values = reference_ids(clause, resource_type) if resource_type else strings(clause)
        ids = set(int_ids(values))
        found = ids if found is None else found & ids
    return sorted(found or [])


def read_schedule(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One Schedule."""
    found = int_ids([resource_id])
    clinic = session.get(ClinicSession, found[0]) if found else None
    if clinic is None:
        raise not_found("Schedule", resource_id)
    return schedule_to_fhir(clinic)


def search_schedules(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """Schedules by id or actor (Practitioner/<id>)."""
    statement = select(ClinicSession).order_by(ClinicSession.id)
    if (ids := _ids(query, "_id")) is not None:
        statement = statement.where(ClinicSession.id.in_(ids))
    if (actors := _ids(query, "actor", "Practitioner")) is not None:
        statement = statement.where(ClinicSession.practitioner_id.in_(actors))
    return _page(session, statement, query, schedule_to_fhir)


def read_slot(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One Slot."""
    found = int_ids([resource_id])
    slot = session.get(Slot, found[0]) if found else None
    if slot is None:
        raise not_found("Slot", resource_id)
    return slot_to_fhir(slot)


def search_slots(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
    """Slots by schedule, status and start, soonest first."""
    statement = select(Slot).order_by(Slot.start_at, Slot.id)
    if (ids := _ids(query, "_id")) is not None:
        statement = statement.where(Slot.id.in_(ids))
    if (schedules := _ids(query, "schedule", "Schedule")) is not None:
        statement = statement.where(Slot.clinic_session_id.in_(schedules))
    for clause in query.clauses_for("status"):
        statement = statement.where(Slot.status.in_(strings(clause)))
    for clause in query.clauses_for("start"):
        since, until = instant_bounds(dates(clause))
        if since is not None:
            statement = statement.where(Slot.start_at >= since)
        if until is not None:
            statement = statement.where(Slot.start_at < until)
    return _page(session, statement, query, slot_to_fhir)


def read_appointment(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One Appointment of a patient the reader may see (audited)."""
    found = int_ids([resource_id])
    if not found:
        raise not_found("Appointment", resource_id)
    return appointment_to_fhir(scheduling.get_or_raise(session, principal,
                                                       appointment_id=found[0]))


def search_appointments(
    session: Session, principal: Principal, query: SearchQuery
) -> SearchResult:
    """Appointments of the patients the reader may see, by patient, actor, status, date."""
    statement = select(Appointment).order_by(Appointment.start_at, Appointment.id)
    if principal.role is Role.PATIENT:
        statement = statement.where(Appointment.person_id == (principal.person_id or -1))
    elif (visible := patients.visible_person_ids(principal)) is not None:
        statement = statement.where(Appointment.person_id.in_(visible))
    if (ids := _ids(query, "_id")) is not None:
        statement = statement.where(Appointment.id.in_(ids))
    if (people := _ids(query, "patient", "Patient")) is not None:
        statement = statement.where(Appointment.person_id.in_(people))
    if (actors := _ids(query, "practitioner", "Practitioner")) is not None:
        statement = statement.where(Appointment.practitioner_id.in_(actors))
    for clause in query.clauses_for("status"):
        statement = statement.where(Appointment.status.in_(strings(clause)))
    for clause in query.clauses_for("date"):
        since, until = instant_bounds(dates(clause))
        if since is not None:
            statement = statement.where(Appointment.start_at >= since)
        if until is not None:
            statement = statement.where(Appointment.start_at < until)
    result = _page(session, statement, query, appointment_to_fhir)
    audit.record(session, action="appointment.search", entity_type="appointment",
                 detail={"ids": [resource["id"] for resource in result.resources]})
    return result


SCHEDULE = ResourceHandler(
    resource_type="Schedule", action=Action.SCHEDULE_READ,
    documentation="Recurring expert clinics (clinic sessions); actors: the expert and the "
                  "department.",
    read=read_schedule, search=search_schedules,
    search_params=(ID_PARAM, SearchParam("actor", ParamType.REFERENCE, "Practitioner/<id>.",
                                         standard("Schedule", "actor"))),
)
SLOT = ResourceHandler(
    resource_type="Slot", action=Action.SCHEDULE_READ,
    documentation="Bookable times generated from the schedules; free, busy or "
                  "busy-unavailable (clinic called off).",
    read=read_slot, search=search_slots,
    search_params=(
        ID_PARAM,
        SearchParam("schedule", ParamType.REFERENCE, "Schedule/<id>.",
                    standard("Slot", "schedule")),
        SearchParam("status", ParamType.TOKEN, "free | busy | busy-unavailable.",
                    standard("Slot", "status")),
        SearchParam("start", ParamType.DATE, "When the slot starts, e.g. start=ge2026-12-08.",
                    standard("Slot", "start"), or_values=False),
    ),
)
APPOINTMENT = ResourceHandler(
    resource_type="Appointment", action=Action.APPOINTMENT_BOOK,
    documentation="Bookings of slots, real-name (participant Patient is a person of the "
                  "index). Create with a Slot and a Patient; PUT changes the status only, "
                  "following FHIR Appointment.status (illegal changes are 409).",
    read=read_appointment, search=search_appointments,
    interactions=("read", "search-type", "create", "update"),
    search_params=(
        ID_PARAM,
        SearchParam("patient", ParamType.REFERENCE, "Patient/<id>.",
                    standard("Appointment", "patient")),
        SearchParam("practitioner", ParamType.REFERENCE, "Practitioner/<id>.",
                    standard("Appointment", "practitioner")),
        SearchParam("status", ParamType.TOKEN, "FHIR Appointment.status.",
                    standard("Appointment", "status")),
        SearchParam("date", ParamType.DATE, "When it starts.", standard("Appointment", "date"),
                    or_values=False),
    ),
)
HANDLERS = (SCHEDULE, SLOT, APPOINTMENT)


# ---------------------------------------------------------------- create and status change

router = APIRouter(prefix="/fhir/r4", tags=["fhir"])
FhirBody = Annotated[dict[str, Any], Body(media_type=FHIR_JSON)]
_ANSWER: dict[int | str, dict[str, Any]] = {201: {"content": {FHIR_JSON: {}}}}


def _reference_id(reference: Any, resource_type: str) -> int | None:
    text = reference.get("reference", "") if isinstance(reference, dict) else ""
    kind, _, number = str(text).partition("/")
    return int(number) if kind == resource_type and number.isdigit() else None


def _bad(what_zh: str, what_en: str) -> InvalidInput:
    return InvalidInput("invalid_appointment", f"预约资源无效：{what_zh}",
                        f"Invalid Appointment: {what_en}")


@router.post("/Appointment", status_code=201, response_class=Response, responses=_ANSWER,
             summary="Create Appointment (book a Slot)")
def create_appointment(
    request: Request, body: FhirBody, session: DbSession, settings: AppSettings, now: Now,
    principal: Principal = RequirePermission(Action.APPOINTMENT_BOOK),
) -> Response:
    """Book the Slot named in ``slot`` for the Patient participant (409 when full)."""
    if body.get("resourceType") != "Appointment":
        raise _bad("resourceType 须为 Appointment", "resourceType must be Appointment")
    slots = [_reference_id(ref, "Slot") for ref in body.get("slot", [])]
    people = [_reference_id(p.get("actor"), "Patient") for p in body.get("participant", [])
              if isinstance(p, dict)]
    slot_id = next((s for s in slots if s is not None), None)
    person_id = next((p for p in people if p is not None), principal.person_id)
    if slot_id is None or person_id is None:
        raise _bad("须有 slot 与 Patient 参与者", "needs a slot and a Patient participant")
    based_on = [ref.get("reference", "") for ref in body.get("basedOn", [])
                if isinstance(ref, dict)]
    source_ref = str(based_on[0]) if based_on else ""
    source = (BookingSource.REFERRAL if source_ref.startswith("ServiceRequest/")
              else BookingSource.ONLINE if principal.role is Role.PATIENT else BookingSource.WINDOW)
    appointment = scheduling.book(session, principal=principal, slot_id=slot_id,
                                  person_id=person_id, source=source, source_ref=source_ref,
                                  settings=settings, now=now)
    response = fhir_response(appointment_to_fhir(appointment), status_code=201)
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/fhir/r4/Appointment/" \
                                   f"{appointment.id}"
    return response


@router.put("/Appointment/{resource_id}", response_class=Response,
            responses={200: {"content": {FHIR_JSON: {}}}},
            summary="Update Appointment (its status only)")
def update_appointment(
    resource_id: str, body: FhirBody, session: DbSession, settings: AppSettings, now: Now,
    principal: Principal = RequirePermission(Action.APPOINTMENT_BOOK),
) -> Response:
    """Change the status (FHIR rules; cancelling before the cut-off frees the slot)."""
    found = int_ids([resource_id])
    if not found:
        raise not_found("Appointment", resource_id)
    appointment = scheduling.get_or_raise(session, principal, appointment_id=found[0])
    try:
        wanted = AppointmentStatus(str(body.get("status", "")))
    except ValueError as error:
        raise _bad("status 无效", "unknown status") from error
    if wanted is not appointment.status:
        if wanted is AppointmentStatus.CANCELLED:
            scheduling.cancel(session, principal=principal, appointment=appointment,
                              settings=settings, now=now)
        else:
            scheduling.set_status(session, principal=principal, appointment=appointment,
                                  status=wanted, settings=settings, note="FHIR update")
    return fhir_response(appointment_to_fhir(appointment))
