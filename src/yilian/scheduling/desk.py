"""The registration desk's pages (挂号窗口): a clerk or nurse books a clinic slot for a patient
at the window (窗口) or on the phone (电话) and cancels a booking with a reason.

The desk finds the patient in the patient index (real-name), offers only the clinics of its
own institution (and the campuses it runs), and books through the same service as the API,
so the same rules hold: one patient per slot, no overlapping appointments, the per-day
department limit, the cancellation cut-off. Included in ``web.router`` under ``/desk``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import Conflict, InvalidInput, NotFound, YilianError
from yilian.patients import labels as patient_labels
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.portal.pages import render_page
from yilian.registry import service as registry
from yilian.registry.models import Department, Institution, Practitioner
from yilian.scheduling import clock, labels
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import Appointment, BookingSource, ClinicSession, Slot
from yilian.webui import current_language

router = APIRouter(prefix="/desk")
OptionalId = Annotated[int | None, Form()]

# GB 11643: 18 characters (17 digits and a check digit, X for 10) or the 15-digit legacy form.
RESIDENT_ID = re.compile(r"\d{17}[\dXx]|\d{15}")


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    language = current_language.get()
    helpers: dict[str, Any] = {
        **labels.template_helpers(language),
        "sex_name": lambda sex: patient_labels.name_of(sex, language),
    }
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


def _named(session: Session, model: type[Any], ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def desk_institutions(session: Session, principal: Principal) -> list[Institution]:
    """Institutions holding clinics whose desk the user may work (their own and campuses)."""
    holding = set(session.scalars(select(ClinicSession.institution_id).distinct()))
    if not principal.is_network_wide:
        holding &= principal.institution_ids
    found = registry.institutions_by_id(session, ids=holding)
    return sorted(found.values(), key=lambda institution: institution.code)


def _desk_institution(
    session: Session, principal: Principal, institution_id: int | None
) -> Institution | None:
    authorize(principal, Action.APPOINTMENT_MANAGE)
    if institution_id is None:
        choices = desk_institutions(session, principal)
        own = [i for i in choices if i.id == principal.institution_id]
        if not (own or choices):
            return None
        institution_id = (own or choices)[0].id
    scheduling.authorize_desk(principal, institution_id=institution_id)
    return registry.get_institution_or_raise(session, institution_id=institution_id)


def find_patients(
    session: Session, settings: Settings, principal: Principal, *, query: str
) -> list[Person]:
    """Patients the user may see matching a name, a patient number or a resident ID."""
    query = query.strip()
    if not query:
        return []
    where = (patients.PersonFilter(id_number=query.upper()) if RESIDENT_ID.fullmatch(query)
             else patients.PersonFilter(text=query))
    people, _ = patients.list_persons(session, settings, principal, where=where, limit=10)
    return people


def _desk_context(
    request: Request, session: Session, settings: Settings, principal: Principal, *,
    institution: Institution | None, query: str, person_id: int | None,
    department_id: int | None, practitioner_id: int | None, source: str = "window",
    error: YilianError | None = None,
) -> dict[str, Any]:
    now = clock.current_time(request)
    person = (patients.get_person_or_raise(session, principal, person_id=person_id,
                                           purpose="appointment.desk")
              if person_id is not None else None)
    clinics = list(session.scalars(
        select(ClinicSession).where(ClinicSession.institution_id == institution.id)
        .order_by(ClinicSession.weekday, ClinicSession.start_time, ClinicSession.id)
    )) if institution is not None else []
    upcoming = (scheduling.upcoming_for_person(session, person_id=person.id,
                                               institution_ids=frozenset({institution.id}),
                                               now=now)
                if person is not None and institution is not None else [])
    department_ids = {c.department_id for c in clinics}
    expert_ids = {c.practitioner_id for c in clinics}
    wanted = ((department_id is not None and department_id in department_ids)
              or (practitioner_id is not None and practitioner_id in expert_ids))
    free: list[Slot] = []
    if person is not None and institution is not None and wanted:
        free = scheduling.free_slots(
            session, after=now, institution_ids=[institution.id],
            department_id=department_id if department_id in department_ids else None,
            practitioner_ids=[practitioner_id] if practitioner_id in expert_ids else None,
            limit=120)
    zone = ZoneInfo(settings.scheduling_timezone)
    days: dict[date, list[Slot]] = defaultdict(list)
    for slot in free:
        days[slot.start_at.astimezone(zone).date()].append(slot)
    experts = _named(session, Practitioner,
                     expert_ids | {a.practitioner_id for a in upcoming})
    return {
        "institution": institution, "choices": desk_institutions(session, principal),
        "query": query, "people": find_patients(session, settings, principal, query=query)
        if person is None else [],
        "person": person, "upcoming": upcoming, "clinics": clinics,
        "departments": _named(session, Department,
                              department_ids | {a.department_id for a in upcoming}),
        "experts": experts, "department_id": department_id if wanted else None,
        "practitioner_id": practitioner_id if wanted else None,
        "days": sorted(days.items()), "sources": [BookingSource.WINDOW, BookingSource.PHONE],
        "source": source, "error": error.message(current_language.get()) if error else None,
    }


@router.get("", response_class=HTMLResponse)
def desk(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    institution_id: int | None = None, q: str = "", person_id: int | None = None,
    department_id: int | None = None, practitioner_id: int | None = None,
) -> HTMLResponse:
    """The desk: find the patient, choose a department or an expert, book a free slot."""
    institution = _desk_institution(session, principal, institution_id)
    return _page(request, session, "scheduling/desk.html", _desk_context(
        request, session, settings, principal, institution=institution, query=q[:64],
        person_id=person_id, department_id=department_id, practitioner_id=practitioner_id))


@router.post("/book", response_class=HTMLResponse)
def desk_book(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    slot_id: Annotated[int, Form()], person_id: Annotated[int, Form()],
    source: Annotated[str, Form()], institution_id: OptionalId = None,
    department_id: OptionalId = None, practitioner_id: OptionalId = None,
) -> Response:
    """Book the chosen slot for the patient, at the window or by phone; the slip is next."""
    institution = _desk_institution(session, principal, institution_id)
    try:
        chosen_source = BookingSource(source)
    except ValueError as error:
        raise InvalidInput("desk_source", "请选择窗口或电话预约",
                           "Choose window or phone") from error
    try:
        appointment = scheduling.book_at_desk(
            session, principal=principal, slot_id=slot_id, person_id=person_id,
            source=chosen_source, settings=settings, now=clock.current_time(request))
    except Conflict as error:  # taken, overlapping, over the day's limit, in the past
        session.rollback()
        return _page(request, session, "scheduling/desk.html", _desk_context(
            request, session, settings, principal, institution=institution, query="",
            person_id=person_id, department_id=department_id,
            practitioner_id=practitioner_id, source=source, error=error),
            status_code=error.status_code)
    return RedirectResponse(f"/scheduling/desk/appointments/{appointment.id}", status_code=303)


def _desk_appointment(
    session: Session, principal: Principal, appointment_id: int
) -> Appointment:
    appointment = scheduling.get_or_raise(session, principal, appointment_id=appointment_id)
    scheduling.authorize_desk(principal, institution_id=appointment.institution_id)
    return appointment


def _slip(request: Request, session: Session, settings: Settings, appointment: Appointment,
          *, error: YilianError | None = None) -> HTMLResponse:
    person = session.get(Person, appointment.person_id)
    if person is None:
        raise NotFound("患者", "Patient", appointment.person_id)
    cancelled = [change for change in appointment.history
                 if change.to_status.value == "cancelled"]
    return _page(request, session, "scheduling/desk_slip.html", {
        "appointment": appointment, "person": person,
        "expert": registry.get_practitioner_or_raise(
            session, practitioner_id=appointment.practitioner_id),
        "department": registry.get_department_or_raise(
            session, department_id=appointment.department_id),
        "institution": registry.get_institution_or_raise(
            session, institution_id=appointment.institution_id),
        "cancel_note": cancelled[-1].note if cancelled else "",
        "checkin_open_minutes": settings.scheduling_checkin_open_minutes,
        "checkin_close_minutes": settings.scheduling_checkin_close_minutes,
        "error": error.message(current_language.get()) if error else None,
    }, status_code=error.status_code if error else 200)


@router.get("/appointments/{appointment_id}", response_class=HTMLResponse)
def desk_slip(
    appointment_id: int, request: Request, session: DbSession, principal: CurrentPrincipal,
    settings: AppSettings,
) -> HTMLResponse:
    """The appointment slip to hand over or read out: the code, who, where, when; printable."""
    appointment = _desk_appointment(session, principal, appointment_id)
    return _slip(request, session, settings, appointment)


@router.post("/appointments/{appointment_id}/cancel", response_class=HTMLResponse)
def desk_cancel(
    appointment_id: int, request: Request, session: DbSession, principal: CurrentPrincipal,
    settings: AppSettings, reason: Annotated[str, Form(max_length=160)] = "",
) -> Response:
    """Cancel a booking with a reason, before the cut-off; the slot is free again."""
    appointment = _desk_appointment(session, principal, appointment_id)
    try:
        scheduling.cancel_at_desk(session, principal=principal, appointment=appointment,
                                  reason=reason, settings=settings,
                                  now=clock.current_time(request))
    except (Conflict, InvalidInput) as error:
        session.rollback()
        appointment = _desk_appointment(session, principal, appointment_id)
        return _slip(request, session, settings, appointment, error=error)
    return RedirectResponse(f"/scheduling/desk/appointments/{appointment.id}", status_code=303)
