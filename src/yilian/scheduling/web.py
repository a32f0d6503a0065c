"""Scheduling pages, Chinese first: the expert roster of an institution, an expert's schedule,
the patient's booking flow (made for a phone), their appointments and notices, self
check-in, the clinic's queue screen (it refreshes itself with htmx polling) and the admin
pages for stationed experts and trainees. The registration desk's pages (window and phone
booking by staff) are in ``desk`` and included here.

Every read of patient data goes through the services, which audit it. Page texts are English
msgids marked with ``_()``, their Chinese in ``locale/zh/LC_MESSAGES/messages.po``; enum
values show their two names from ``labels``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import InvalidInput, NotFound, YilianError
from yilian.patients.models import Person
from yilian.portal.pages import render_page
from yilian.registry import service as registry
from yilian.registry.models import Department, Institution, Practitioner
from yilian.scheduling import clock, desk, labels
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import (
    Appointment,
    BookingSource,
    ClinicSession,
    ExceptionKind,
    Slot,
    StationingMode,
    StationingRole,
    TraineeStatus,
)
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/scheduling", include_in_schema=False)
FormText = Annotated[str, Form()]


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    helpers = labels.template_helpers(current_language.get())
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


def _today(request: Request) -> date:
    return clock.local_day(request)


def _named(session: Session, model: type[Any], ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _appointment_context(session: Session, appointments: list[Appointment]) -> dict[str, Any]:
    """Experts, departments and institutions the appointments name, by id."""
    return {
        "experts": _named(session, Practitioner, {a.practitioner_id for a in appointments}),
        "departments": _named(session, Department, {a.department_id for a in appointments}),
        "institutions": _named(session, Institution, {a.institution_id for a in appointments}),
    }


def _slots_by_day(slots: list[Slot], zone: ZoneInfo) -> list[tuple[date, list[Slot]]]:
    days: dict[date, list[Slot]] = defaultdict(list)
    for slot in slots:
        days[slot.start_at.astimezone(zone).date()].append(slot)
    return sorted(days.items())


# ---------------------------------------------------------------- roster and schedules


@router.get("", response_class=HTMLResponse)
def home(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Where scheduling starts: patients go to booking, staff to their roster."""
    if principal.person_id is not None:
        return RedirectResponse("/scheduling/mine", status_code=303)
    institution_id = principal.institution_id
    if institution_id is None:
        hl = registry.get_institution_by_code(session, code="PKUPH-HL")
        institution_id = hl.id if hl else None
    if institution_id is None:
        raise NotFound("机构", "Institution", "-")
    return RedirectResponse(f"/scheduling/institutions/{institution_id}/experts", status_code=303)


@router.get("/institutions/{institution_id}/experts", response_class=HTMLResponse)
def roster(
    institution_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal
) -> HTMLResponse:
    """The experts stationed at an institution and each department's two directors."""
    authorize(principal, Action.SCHEDULE_READ)
    institution = registry.get_institution_or_raise(session, institution_id=institution_id)
    today = _today(request)
    stationed = scheduling.list_stationed(session, institution_id=institution.id, today=today)
    directors = scheduling.department_directors(session, institution_id=institution.id,
                                                today=today)
    homes = registry.institutions_by_id(
        session, ids={entry.practitioner.institution_id for entry in stationed})
    clinics = list(session.scalars(select(ClinicSession).where(
        ClinicSession.institution_id == institution.id)))
    with_clinic = {clinic.practitioner_id for clinic in clinics}
    return _page(request, session, "scheduling/roster.html", {
        "institution": institution, "stationed": stationed, "directors": directors,
        "homes": homes, "with_clinic": with_clinic, "today": today,
    })


@router.get("/experts/{practitioner_id}", response_class=HTMLResponse)
def expert_schedule(
    practitioner_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
    settings: AppSettings,
) -> HTMLResponse:
    """An expert's weekly clinics and their free slots of the coming weeks."""
    authorize(principal, Action.SCHEDULE_READ)
    expert = registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
    clinics = list(session.scalars(select(ClinicSession).where(
        ClinicSession.practitioner_id == expert.id).order_by(ClinicSession.weekday)))
    free = scheduling.free_slots(session, after=clock.current_time(request),
                                 practitioner_ids=[expert.id], limit=200)
    zone = ZoneInfo(settings.scheduling_timezone)
    return _page(request, session, "scheduling/expert.html", {
        "expert": expert, "clinics": clinics,
        "departments": _named(session, Department, {c.department_id for c in clinics}),
        "days": _slots_by_day(free, zone), "today": _today(request),
        "called_off": request.query_params.get("called_off"),
    })


@router.post("/experts/{practitioner_id}/absence", response_class=HTMLResponse)
def expert_absence(
    practitioner_id: Key, session: DbSession, principal: CurrentPrincipal,
    day: FormText, reason: FormText = "",
) -> Response:
    """Call an expert's clinics off on a day: booked patients are told and offered slots."""
    expert = registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
    try:
        parsed = date.fromisoformat(day)
    except ValueError as error:
        raise InvalidInput("bad_date", "日期无效", "Not a valid date") from error
    _, cancelled = scheduling.add_exception(
        session, principal=principal, kind=ExceptionKind.ABSENCE, start_date=parsed,
        end_date=parsed, practitioner_id=expert.id, reason=reason)
    return RedirectResponse(f"/scheduling/experts/{expert.id}?called_off={len(cancelled)}",
                            status_code=303)


# ---------------------------------------------------------------- the booking flow


@router.get("/book", response_class=HTMLResponse)
def choose(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    institution_id: Key | None = None,
) -> HTMLResponse:
    """Step 1: choose a department or an expert of the institution holding clinics."""
    authorize(principal, Action.SCHEDULE_READ)
    if institution_id is None:
        institution_id = principal.institution_id
    clinics = list(session.scalars(
        select(ClinicSession).where(ClinicSession.institution_id == institution_id)
        .order_by(ClinicSession.weekday, ClinicSession.start_time)
    )) if institution_id is not None else []
    institution = (registry.get_institution(session, institution_id=institution_id)
                   if institution_id is not None else None)
    departments = _named(session, Department, {c.department_id for c in clinics})
    experts = _named(session, Practitioner, {c.practitioner_id for c in clinics})
    homes = registry.institutions_by_id(session, ids={e.institution_id for e in experts.values()})
    with_clinics = registry.institutions_by_id(session, ids=set(session.scalars(
        select(ClinicSession.institution_id).distinct())))
    return _page(request, session, "scheduling/choose.html", {
        "institution": institution, "clinics": clinics, "departments": departments,
        "experts": experts, "homes": homes, "choices": sorted(
            with_clinics.values(), key=lambda i: i.code),
    })


@router.get("/book/slots", response_class=HTMLResponse)
def free_slots(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    department_id: Key | None = None, practitioner_id: Key | None = None,
) -> HTMLResponse:
    """Step 2: the free slots of a department or an expert, day by day."""
    authorize(principal, Action.SCHEDULE_READ)
    return _slots_page(request, session, settings, department_id=department_id,
                       practitioner_id=practitioner_id)


ALTERNATIVES = 3  # free slots offered beside a "full" answer


def next_free_after(slots: list[Slot], *, taken: Slot | None, count: int) -> list[Slot]:
    """The free slots to offer when ``taken`` just went: the next ones after it, then the
    soonest before it (``slots`` are soonest first)."""
    if taken is None:
        return slots[:count]
    later = [slot for slot in slots if slot.start_at >= taken.start_at and slot.id != taken.id]
    earlier = [slot for slot in slots if slot.start_at < taken.start_at]
    return (later + earlier)[:count]


def _slots_page(
    request: Request, session: Session, settings: Any, *, department_id: Key | None,
    practitioner_id: Key | None, error: YilianError | None = None,
    taken_slot_id: Key | None = None,
) -> HTMLResponse:
    if department_id is None and practitioner_id is None:
        raise InvalidInput("slots_need_filter", "请选择科室或专家", "Choose a department or expert")
    slots = scheduling.free_slots(session, after=clock.current_time(request),
                                  department_id=department_id,
                                  practitioner_ids=None if practitioner_id is None
                                  else [practitioner_id], limit=200)
    taken = session.get(Slot, taken_slot_id) if taken_slot_id is not None else None
    alternatives = (next_free_after(slots, taken=taken, count=ALTERNATIVES)
                    if error is not None else [])
    zone = ZoneInfo(settings.scheduling_timezone)
    return _page(request, session, "scheduling/slots.html", {
        "department": (registry.get_department_or_raise(session, department_id=department_id)
                       if department_id else None),
        "expert": (registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)
                   if practitioner_id else None),
        "experts": _named(session, Practitioner, {s.practitioner_id for s in slots}),
        "days": _slots_by_day(slots, zone), "department_id": department_id,
        "practitioner_id": practitioner_id,
        "error": error.message(current_language.get()) if error else None,
        "slot_taken": isinstance(error, scheduling.SlotFull), "alternatives": alternatives,
    }, status_code=error.status_code if error else 200)


@router.post("/book", response_class=HTMLResponse)
def book(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    slot_id: Annotated[int, Form()], department_id: Annotated[int | None, Form()] = None,
    practitioner_id: Annotated[int | None, Form()] = None,
) -> Response:
    """Step 3: book the slot for the signed-in patient; the code is shown next."""
    if principal.person_id is None:
        raise InvalidInput("patients_book_here", "此页面供患者本人预约；工作人员请使用转诊或接口",
                           "This page is for patients booking for themselves")
    try:
        appointment = scheduling.book(session, principal=principal, slot_id=slot_id,
                                      person_id=principal.person_id,
                                      source=BookingSource.ONLINE, settings=settings,
                                      now=clock.current_time(request))
    except YilianError as error:
        if error.status_code != 409:
            raise
        session.rollback()
        return _slots_page(request, session, settings, department_id=department_id,
                           practitioner_id=practitioner_id, error=error, taken_slot_id=slot_id)
    return RedirectResponse(f"/scheduling/appointments/{appointment.id}", status_code=303)


@router.get("/appointments/{appointment_id}", response_class=HTMLResponse)
def appointment_page(
    appointment_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
    settings: AppSettings,
) -> HTMLResponse:
    """One appointment with its check-in code (large, to show at the desk)."""
    appointment = scheduling.get_or_raise(session, principal, appointment_id=appointment_id)
    return _page(request, session, "scheduling/appointment.html", {
        "appointment": appointment, **_appointment_context(session, [appointment]),
        "person": session.get(Person, appointment.person_id),
        "checkin_open_minutes": settings.scheduling_checkin_open_minutes,
        "checkin_close_minutes": settings.scheduling_checkin_close_minutes,
    })


@router.post("/appointments/{appointment_id}/cancel", response_class=HTMLResponse)
def cancel(
    appointment_id: Key, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    now: clock.Now,
) -> Response:
    """Cancel before the cut-off."""
    appointment = scheduling.get_or_raise(session, principal, appointment_id=appointment_id)
    scheduling.cancel(session, principal=principal, appointment=appointment, settings=settings,
                      now=now)
    return RedirectResponse(f"/scheduling/appointments/{appointment.id}", status_code=303)


@router.get("/mine", response_class=HTMLResponse)
def mine(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    """The signed-in patient's appointments and the notices of cancelled clinics."""
    appointments = scheduling.my_appointments(session, principal)
    notices = (scheduling.notices_for(session, person_id=principal.person_id)
               if principal.person_id is not None else [])
    offered = _named(session, Slot, {i for notice in notices for i in notice.offered_ids})
    return _page(request, session, "scheduling/mine.html", {
        "appointments": appointments, "notices": notices, "offered": offered,
        **_appointment_context(session, appointments),
    })


@router.post("/notices/{notice_id}/rebook", response_class=HTMLResponse)
def rebook(
    notice_id: Key, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    slot_id: Annotated[int, Form()], now: clock.Now,
) -> Response:
    """Take one of the slots a notice offered."""
    appointment = scheduling.rebook_from_notice(session, principal=principal,
                                                notice_id=notice_id, slot_id=slot_id,
                                                settings=settings, now=now)
    return RedirectResponse(f"/scheduling/appointments/{appointment.id}", status_code=303)


# ---------------------------------------------------------------- check-in and queue


@router.get("/checkin", response_class=HTMLResponse)
def checkin_form(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Self check-in: appointment code or resident ID."""
    authorize(principal, Action.APPOINTMENT_CHECKIN)
    return _page(request, session, "scheduling/checkin.html", {"done": None, "error": None})


@router.post("/checkin", response_class=HTMLResponse)
def checkin(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    now: clock.Now, code: Annotated[str, Form()] = "", id_number: Annotated[str, Form()] = "",
) -> Response:
    """Check in; the page shows the queue number, or what went wrong."""
    try:
        done = scheduling.check_in(session, principal=principal, settings=settings,
                                   code=code, id_number=id_number, now=now)
    except YilianError as error:
        if error.status_code == 403:
            raise
        session.rollback()
        return _page(request, session, "scheduling/checkin.html", {
            "done": None, "error": error.message(current_language.get())},
            status_code=error.status_code)
    return _page(request, session, "scheduling/checkin.html", {
        "done": done, "error": None, **_appointment_context(session, [done])})


def _queue_context(request: Request, session: Session, principal: Principal,
                   clinic_session_id: Key, day: date | None) -> dict[str, Any]:
    clinic = scheduling.get_session_or_raise(session, clinic_session_id=clinic_session_id)
    current = scheduling.queue_for(session, principal=principal, clinic=clinic,
                                   day=day or _today(request))
    people = _named(session, Person, {a.person_id for a in [*current.in_room, *current.waiting]})
    return {"queue": current, "people": people,
            "expert": registry.get_practitioner_or_raise(
                session, practitioner_id=clinic.practitioner_id),
            "department": registry.get_department_or_raise(
                session, department_id=clinic.department_id)}


@router.get("/queue/{clinic_session_id}", response_class=HTMLResponse)
def queue_screen(
    clinic_session_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
    day: date | None = None,
) -> HTMLResponse:
    """The clinic's queue screen: who is being seen, who is next (refreshes itself)."""
    context = _queue_context(request, session, principal, clinic_session_id, day)
    return _page(request, session, "scheduling/queue.html", {**context, "day_param": day})


@router.get("/queue/{clinic_session_id}/board", response_class=HTMLResponse)
def queue_board(
    clinic_session_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
    day: date | None = None,
) -> HTMLResponse:
    """The queue board alone, for the screen's htmx polling."""
    context = _queue_context(request, session, principal, clinic_session_id, day)
    return _page(request, session, "scheduling/_board.html", context)


@router.post("/queue/{clinic_session_id}/call-next", response_class=HTMLResponse)
def queue_call_next(
    clinic_session_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
) -> Response:
    """Finish the patient in the room and call the next one in."""
    clinic = scheduling.get_session_or_raise(session, clinic_session_id=clinic_session_id)
    scheduling.call_next(session, principal=principal, clinic=clinic, day=_today(request))
    return RedirectResponse(f"/scheduling/queue/{clinic.id}", status_code=303)


# ---------------------------------------------------------------- admin


@router.get("/admin/stationings", response_class=HTMLResponse)
def admin_stationings(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    institution_id: Key | None = None,
) -> HTMLResponse:
    """Stationed experts of an institution, past and present, and a form to add one."""
    authorize(principal, Action.STATIONING_WRITE)
    institution_id = institution_id or principal.institution_id
    institution = (registry.get_institution_or_raise(session, institution_id=institution_id)
                   if institution_id else None)
    stationed = scheduling.list_stationed(session, institution_id=institution.id,
                                          today=_today(request), active_only=False
                                          ) if institution else []
    return _page(request, session, "scheduling/admin_stationings.html", {
        "institution": institution, "stationed": stationed,
        "modes": list(StationingMode), "roles": list(StationingRole), "today": _today(request),
        "homes": registry.institutions_by_id(
            session, ids={e.practitioner.institution_id for e in stationed}),
    })


@router.post("/admin/stationings", response_class=HTMLResponse)
def admin_add_stationing(
    session: DbSession, principal: CurrentPrincipal,
    practitioner_code: FormText, institution_code: FormText, department_code: FormText,
    mode: FormText, role: FormText, start_date: FormText, end_date: FormText = "",
) -> Response:
    """Station an expert (the registry role is created with it)."""
    try:
        parsed_mode, parsed_role = StationingMode(mode), StationingRole(role)
        start = date.fromisoformat(start_date)
        end = date.fromisoformat(end_date) if end_date.strip() else None
    except ValueError as error:
        raise InvalidInput("bad_form", "表单填写有误", "The form has invalid values") from error
    stationing = scheduling.create_stationing(
        session, principal=principal, practitioner_code=practitioner_code.strip(),
        institution_code=institution_code.strip(), department_code=department_code.strip(),
        mode=parsed_mode, role=parsed_role, start_date=start, end_date=end)
    role_row = registry.get_role_or_raise(session, role_id=stationing.practitioner_role_id)
    return RedirectResponse(
        f"/scheduling/admin/stationings?institution_id={role_row.institution_id}",
        status_code=303)


@router.get("/admin/trainees", response_class=HTMLResponse)
def admin_trainees(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    status: str = "",
) -> HTMLResponse:
    """Trainees at the user's institutions, with their status and completion."""
    authorize(principal, Action.STATIONING_WRITE)
    reach = None if principal.is_network_wide else sorted(principal.institution_ids)
    wanted = TraineeStatus(status) if status in set(TraineeStatus) else None
    trainees = scheduling.list_trainees(session, institution_ids=reach, status=wanted)
    return _page(request, session, "scheduling/admin_trainees.html", {
        "trainees": trainees, "statuses": list(TraineeStatus), "wanted": wanted,
        "homes": registry.institutions_by_id(
            session, ids={t.role.practitioner.institution_id for t in trainees}),
    })


@router.post("/admin/trainees/{traineeship_id}/status", response_class=HTMLResponse)
def admin_trainee_status(
    traineeship_id: Key, request: Request, session: DbSession, principal: CurrentPrincipal,
    status: FormText, assessment: FormText = "",
) -> Response:
    """Start, complete or withdraw a traineeship."""
    try:
        wanted = TraineeStatus(status)
    except ValueError as error:
        raise InvalidInput("bad_status", "状态无效", "Unknown status") from error
    scheduling.set_trainee_status(session, principal=principal, traineeship_id=traineeship_id,
                                  status=wanted, today=_today(request), assessment=assessment)
    return RedirectResponse("/scheduling/admin/trainees", status_code=303)


router.include_router(desk.router)  # the registration desk, /scheduling/desk
