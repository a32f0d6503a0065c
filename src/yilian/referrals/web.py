"""Referral pages: the incoming and outgoing worklists, the quick referral form, a referral's
detail page with its timeline and the steps the reader may take, a patient's history, and a
patient's own referrals on their phone (/referrals/mine).

Every read and write goes through the services (which audit them); the pages only gather
form fields. The form needs no script of its own: htmx swaps the patient search results,
the targets offered for a green channel, and the departments (with their free beds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.advisor.schemas import Weights
from yilian.auth.permissions import Action, Principal, authorize
from yilian.db import utcnow
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import InvalidInput, YilianError
from yilian.patients import service as patients
from yilian.portal.pages import N_, PAGE_SIZE, flash, form_errors, page_number, pager, render_page
from yilian.referrals import booking, care, icd10, labels, patient_view, rules
from yilian.referrals import service as referrals
from yilian.referrals.models import ClockPoint, Referral, ReferralKind, TaskStatus, Urgency
from yilian.referrals.schemas import (
    AdviceBody,
    BookingBody,
    ClockBody,
    CompletionBody,
    DownReferralBody,
    ReferralCreate,
)
from yilian.referrals.states import TRANSITIONS, ReferralAction, Side, actions_from
from yilian.registry import service as registry
from yilian.registry.models import EmergencyCentre, Institution
from yilian.scheduling import service as scheduling
from yilian.scheduling.labels import local_time
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/referrals", include_in_schema=False)
CHINA = timezone(timedelta(hours=8))  # the form's local times are Beijing time
FORM_FIELDS = {
    "person_id": N_("Patient"), "target_institution_id": N_("Refer to"),
    "target_department_id": N_("Department"), "kind": N_("Referral kind"), "urgency": N_("Urgency"),
    "green_channel": N_("Green channel"), "diagnosis_code": N_("Diagnosis (ICD-10)"),
    "diagnosis_text": N_("Diagnosis"), "reason": N_("Reason for referral"),
    "clinical_summary": N_("Clinical summary"), "consent_recorded": N_("Patient consent"),
}
Text = Annotated[str, Form(max_length=20000)]


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    language = current_language.get()
    helpers = {"name_of": lambda member: labels.name_of(member, language), "china": CHINA}
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


@dataclass(frozen=True)
class Row:
    """A worklist row: the referral, its patient's name and whether it is overdue."""

    referral: Referral
    patient_name: str
    overdue: bool


def _rows(session: Session, found: list[Referral]) -> list[Row]:
    now = utcnow()
    names = {}
    for referral in found:
        person = patients.current_person(session, person_id=referral.person_id)
        names[referral.id] = person.name if person else ""
    return [Row(r, names[r.id], rules.is_overdue(r.status, r.response_due_at, now))
            for r in found]


def _institutions(session: Session, found: list[Referral]) -> dict[int, Institution]:
    ids = [i for r in found for i in (r.referring_institution_id, r.target_institution_id)]
    return registry.institutions_by_id(session, ids=ids)


# ---------------------------------------------------------------- worklists


@router.get("", response_class=HTMLResponse)
def worklist(request: Request, session: DbSession, principal: CurrentPrincipal,
             box: str = "incoming", status: str = "", overdue: str = "",
             page: str | None = None) -> Response:
    """Incoming or outgoing referrals, filtered by status and overdue, overdue highlighted."""
    if principal.person_id is not None:  # a patient's account: their own referrals
        return RedirectResponse("/referrals/mine", status_code=303)
    authorize(principal, Action.REFERRAL_READ)
    box = box if box in ("incoming", "outgoing") else "incoming"
    wanted = TaskStatus(status) if status in set(TaskStatus) else None
    number = page_number(page)
    where = referrals.ReferralFilter(box=box, status=wanted, overdue=overdue == "1")
    found, total = referrals.list_(session, principal, where=where,
                                   offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    filters = {"box": box, "status": status, "overdue": overdue}
    return _page(request, session, "referrals/worklist.html", {
        "rows": _rows(session, list(found)), "total": total, "box": box,
        "status": wanted, "statuses": list(TaskStatus), "overdue": overdue == "1",
        "institutions": _institutions(session, list(found)),
        "pager": pager(request.url.path, filters, number, total),
    })


@router.get("/mine", response_class=HTMLResponse)
def my_referrals(request: Request, session: DbSession,
                 principal: CurrentPrincipal) -> HTMLResponse:
    """The signed-in patient's own referrals on a phone-sized page: where to, the status in
    plain words, the appointment, what to bring."""
    found = list(patient_view.own_referrals(session, principal))
    cards = []
    for referral in found:
        code, appointment_id = "", None
        ref = referral.appointment_ref or ""
        if ref.startswith("Appointment/") and ref.removeprefix("Appointment/").isdigit():
            try:
                appointment = scheduling.get_or_raise(
                    session, principal, appointment_id=int(ref.removeprefix("Appointment/")))
            except YilianError:
                appointment = None
            if appointment is not None:
                code, appointment_id = appointment.code, appointment.id
        cards.append(patient_view.card_of(referral, appointment_code=code,
                                          appointment_id=appointment_id))
    department_ids = {d for r in found for d in (r.target_department_id,
                                                 r.appointment_department_id) if d}
    return _page(request, session, "referrals/mine.html", {
        "cards": cards, "institutions": _institutions(session, found),
        "departments": {d: registry.get_department_or_raise(session, department_id=d)
                        for d in department_ids},
    })


@router.get("/patient/{person_id}", response_class=HTMLResponse)
def patient_history(request: Request, session: DbSession, principal: CurrentPrincipal,
                    person_id: Key) -> HTMLResponse:
    """Every referral of one patient the reader may see, newest first."""
    person = patients.get_person_or_raise(session, principal, person_id=person_id,
                                          purpose="referral.history.read")
    found, total = referrals.list_(session, principal,
                                   where=referrals.ReferralFilter(person_id=person.id),
                                   limit=200)
    return _page(request, session, "referrals/history.html", {
        "person": person, "rows": _rows(session, list(found)), "total": total,
        "institutions": _institutions(session, list(found)),
    })


# ---------------------------------------------------------------- the form


def _targets(session: Session, principal: Principal, *, green_channel: str,
             kind: str) -> list[dict[str, Any]]:
    """Institutions to refer to: consortium partners and higher levels first, only certified
    centres for a green channel, with free beds for an inpatient referral."""
    rows, _ = registry.list_institutions(session, where=registry.InstitutionFilter(),
                                         limit=1000)
    centre = EmergencyCentre(green_channel) if green_channel in set(EmergencyCentre) else None
    own = principal.institution_id
    origin = registry.get_institution(session, institution_id=own) if own else None
    partners: set[int | None] = set()
    if origin is not None:
        partners = {*referrals.place_of(session, institution=origin).leads, origin.parent_id}
    offered = [i for i in rows if i.id != own and rules.centre_accepts(centre, i.centre_kinds)]
    beds = (care.free_beds_by_institution(session, institution_ids=[i.id for i in offered])
            if kind == ReferralKind.INPATIENT.value else {})
    offered.sort(key=lambda i: (i.id not in partners, -i.level, i.code))
    return [{"institution": i, "free_beds": beds.get(i.id)} for i in offered]


def _form(request: Request, session: Session, principal: Principal, values: dict[str, str],
          *, error: str | None = None, field_errors: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    chosen = None
    if values.get("person_id"):
        try:
            chosen = patients.get_person_or_raise(session, principal,
                                                  person_id=int(values["person_id"]))
        except (YilianError, ValueError):
            chosen = None
    return _page(request, session, "referrals/form.html", {
        "values": values, "error": error, "field_errors": field_errors or {},
        "chosen": chosen, "kinds": list(ReferralKind), "urgencies": list(Urgency),
        "centres": list(EmergencyCentre), "diagnoses": icd10.catalogue(),
        "targets": _targets(session, principal, green_channel=values.get("green_channel", ""),
                            kind=values.get("kind", "")),
        # the advisor panel (advisor/web.py answers it)
        "specialties": registry.list_specialties(session), "defaults": Weights(),
    }, status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def referral_form(request: Request, session: DbSession, principal: CurrentPrincipal,
                  person_id: str = "") -> HTMLResponse:
    """The quick referral form."""
    authorize(principal, Action.REFERRAL_WRITE)
    values = {"person_id": person_id, "kind": ReferralKind.OUTPATIENT.value,
              "urgency": Urgency.ROUTINE.value}
    return _form(request, session, principal, values)


@router.post("/patients", response_class=HTMLResponse)
def patient_choices(request: Request, session: DbSession, settings: AppSettings,
                    principal: CurrentPrincipal,
                    q: Annotated[str, Form(max_length=64)] = "") -> HTMLResponse:
    """Patients matching a name or patient number, to pick one (an htmx fragment)."""
    authorize(principal, Action.REFERRAL_WRITE)
    people, total = patients.list_persons(session, settings, principal,
                                          where=patients.PersonFilter(text=q.strip()), limit=10)
    return _page(request, session, "referrals/_patients.html",
                 {"people": people, "total": total, "q": q})


@router.get("/targets", response_class=HTMLResponse)
def target_choices(request: Request, session: DbSession, principal: CurrentPrincipal,
                   green_channel: str = "", kind: str = "",
                   target_institution_id: str = "") -> HTMLResponse:
    """The target options for a green channel and kind (an htmx fragment)."""
    authorize(principal, Action.REFERRAL_WRITE)
    return _page(request, session, "referrals/_targets.html", {
        "targets": _targets(session, principal, green_channel=green_channel, kind=kind),
        "values": {"target_institution_id": target_institution_id},
    })


@router.get("/departments", response_class=HTMLResponse)
def department_choices(request: Request, session: DbSession, principal: CurrentPrincipal,
                       target_institution_id: str = "") -> HTMLResponse:
    """The departments of a target institution with their free beds (an htmx fragment)."""
    authorize(principal, Action.REFERRAL_WRITE)
    departments: list[Any] = []
    free: dict[int, int] = {}
    if target_institution_id.isdigit():
        departments = list(registry.list_departments(
            session, institution_id=int(target_institution_id)))
        for row in care.bed_census(session, institution_id=int(target_institution_id)):
            free[row.department_id] = free.get(row.department_id, 0) + row.free_beds
    return _page(request, session, "referrals/_departments.html",
                 {"departments": departments, "free": free, "values": {}})


@router.get("/advised", response_class=HTMLResponse)
def advised_choice(request: Request, session: DbSession, principal: CurrentPrincipal,
                   target_institution_id: Key, target_department_id: str = "",
                   target_practitioner_id: str = "", slot_id: str = "",
                   green_channel: str = "", kind: str = "") -> HTMLResponse:
    """The advisor's chosen option put into the form in one click (an htmx fragment): the
    target selected, its departments with the chosen one, the expert and slot remembered."""
    authorize(principal, Action.REFERRAL_WRITE)
    institution = registry.get_institution_or_raise(session, institution_id=target_institution_id)
    department = (registry.get_department_or_raise(session,
                                                   department_id=int(target_department_id))
                  if target_department_id.isdigit() else None)
    expert = (registry.get_practitioner_or_raise(session,
                                                 practitioner_id=int(target_practitioner_id))
              if target_practitioner_id.isdigit() else None)
    slot = (scheduling.get_slot_or_raise(session, slot_id=int(slot_id))
            if slot_id.isdigit() else None)
    free: dict[int, int] = {}
    for row in care.bed_census(session, institution_id=institution.id):
        free[row.department_id] = free.get(row.department_id, 0) + row.free_beds
    return _page(request, session, "referrals/_advised.html", {
        "targets": _targets(session, principal, green_channel=green_channel, kind=kind),
        "departments": list(registry.list_departments(session, institution_id=institution.id)),
        "free": free, "institution": institution, "department": department, "expert": expert,
        "slot": slot, "local_time": local_time,
        "values": {"target_institution_id": str(institution.id),
                   "target_department_id": str(department.id) if department else ""},
    })


def _note_advised_slot(session: Session, principal: Principal, referral: Referral,
                       slot_id: str) -> None:
    """Tell the receiver which free slot the referrer chose with the advisor (booked once the
    referral is accepted: see booking.py)."""
    if not slot_id.isdigit():
        return
    slot = scheduling.get_slot_or_raise(session, slot_id=int(slot_id))
    expert = registry.get_practitioner_or_raise(session, practitioner_id=slot.practitioner_id)
    when = local_time(slot.start_at, "%Y-%m-%d %H:%M")
    referrals.add_note(session, principal, referral=referral, note=(
        f"去哪看推荐：建议预约 {when} {expert.name} 的号源（号源 #{slot.id}） / "
        f"Advisor's choice: the slot of {expert.name} at {when} (slot #{slot.id})"))


@router.post("/new", response_class=HTMLResponse)
def referral_save(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    person_id: Annotated[str, Form(max_length=20)] = "",
    target_institution_id: Annotated[str, Form(max_length=20)] = "",
    target_department_id: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    urgency: Annotated[str, Form(max_length=20)] = "",
    green_channel: Annotated[str, Form(max_length=20)] = "",
    diagnosis_code: Annotated[str, Form(max_length=16)] = "",
    diagnosis_text: Annotated[str, Form(max_length=200)] = "",
    reason: Text = "", clinical_summary: Text = "",
    consent_recorded: Annotated[str, Form(max_length=8)] = "",
    consent_note: Annotated[str, Form(max_length=200)] = "",
    target_practitioner_id: Annotated[str, Form(max_length=20)] = "",
    advisor_slot_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Send the referral; on bad input show the form again with what is wrong."""
    authorize(principal, Action.REFERRAL_WRITE)
    values = {"person_id": person_id, "target_institution_id": target_institution_id,
              "target_department_id": target_department_id, "kind": kind,
              "urgency": urgency, "green_channel": green_channel,
              "diagnosis_code": diagnosis_code, "diagnosis_text": diagnosis_text,
              "reason": reason, "clinical_summary": clinical_summary,
              "consent_recorded": consent_recorded, "consent_note": consent_note,
              "target_practitioner_id": target_practitioner_id}
    listed = icd10.find(diagnosis_code)
    if listed is not None and not diagnosis_text.strip():
        values["diagnosis_text"] = listed.name
    field_errors: dict[str, str] = {}
    try:
        data = ReferralCreate.model_validate(
            {key: value.strip() for key, value in values.items() if value.strip()}
            | {"consent_recorded": consent_recorded == "yes"})
        referral = referrals.create(session, settings, principal, data=data)
        _note_advised_slot(session, principal, referral, advisor_slot_id)
    except ValidationError as invalid:
        summary, field_errors = form_errors(invalid, FORM_FIELDS)
    except YilianError as refused:
        summary = refused.message(current_language.get())
    else:
        flash(request, N_("Referral sent. The receiving hospital has been asked to answer."))
        return RedirectResponse(f"/referrals/{referral.id}", status_code=303)
    session.rollback()
    return _form(request, session, principal, values, error=summary,
                 field_errors=field_errors, status_code=422)


# ---------------------------------------------------------------- one referral


def _may(principal: Principal, referral: Referral, side: Side) -> bool:
    return referrals.may_act_for(principal, referral, side)


@router.get("/{referral_id}", response_class=HTMLResponse)
def referral_detail(request: Request, session: DbSession, principal: CurrentPrincipal,
                    referral_id: Key) -> HTMLResponse:
    """A referral: what is asked, where it stands, its timeline, and the next steps."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    person = patients.current_person(session, person_id=referral.person_id)
    allowed = [a for a in actions_from(referral.status)
               if any(_may(principal, referral, side) for side in TRANSITIONS[a].sides)]
    ids = [referral.referring_institution_id, referral.target_institution_id,
           *(e.actor_institution_id for e in referral.events if e.actor_institution_id)]
    department_ids = [d for d in (referral.target_department_id,
                                  referral.referring_department_id) if d]
    departments = {d: registry.get_department_or_raise(session, department_id=d)
                   for d in department_ids}
    # The receiving department's free clinic slots, for the "book" step (the referrer books
    # only these: see booking.py).
    free_slots = (booking.bookable_slots(session, referral, limit=20)
                  if ReferralAction.BOOK in allowed else [])
    ids += [slot.clinic_session.institution_id for slot in free_slots]
    experts = {pid: registry.get_practitioner_or_raise(session, practitioner_id=pid)
               for pid in {slot.practitioner_id for slot in free_slots}}
    return _page(request, session, "referrals/detail.html", {
        "free_slots": free_slots, "experts": experts,
        "book_slot_only": ReferralAction.BOOK in allowed
        and booking.booking_side(principal, referral) is Side.REFERRER,
        "referral": referral, "person": person, "actions": allowed,
        # The receiver sees the patient's results once accepting shares them (sharing.py).
        "sees_patient": person is not None and patients.can_view(session, principal, person),
        "institutions": registry.institutions_by_id(session, ids=ids),
        "departments": departments,
        "overdue": rules.is_overdue(referral.status, referral.response_due_at, utcnow()),
        "intervals": care.intervals(referral),
        "documents": care.list_documents(session, referral=referral),
        "receiver": _may(principal, referral, Side.RECEIVER),
        "referrer": _may(principal, referral, Side.REFERRER),
        "may_refer_down": referral.status is TaskStatus.COMPLETED
        and bool(referral.outcome_summary) and _may(principal, referral, Side.RECEIVER),
        "clock_points": list(ClockPoint),
        "A": ReferralAction,
    })


def _local_time(raw: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=CHINA)
    except ValueError:
        raise InvalidInput("bad_time", "时间格式不正确", "The time is not valid") from None


def _slot_id(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("bad_slot", "号源编号不正确", "The slot is not valid")
    return int(raw)


@router.post("/{referral_id}/act/{action}", response_class=HTMLResponse)
def referral_act(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    referral_id: Key, action: ReferralAction,
    version: Annotated[int | None, Form()] = None,
    reason: Text = "", note: Text = "", advice: Text = "",
    appointment_at: Annotated[str, Form(max_length=32)] = "",
    appointment_place: Annotated[str, Form(max_length=200)] = "",
    ward: Annotated[str, Form(max_length=64)] = "",
    bed: Annotated[str, Form(max_length=32)] = "",
    slot_id: Annotated[str, Form(max_length=16)] = "",
    outcome_summary: Text = "", follow_up_plan: Text = "",
) -> Response:
    """Take one step of the workflow on the version the reader saw."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    try:
        _act(session, settings, principal, referral, action, version, {
            "reason": reason.strip(), "note": note.strip(), "advice": advice.strip(),
            "appointment_at": appointment_at, "appointment_place": appointment_place.strip(),
            "ward": ward.strip(), "bed": bed.strip(), "slot_id": slot_id.strip(),
            "outcome_summary": outcome_summary.strip(), "follow_up_plan": follow_up_plan.strip(),
        })
    except ValidationError as invalid:
        summary, _ = form_errors(invalid, {"advice": N_("Advice"),
                                           "outcome_summary": N_("Discharge summary")})
        raise InvalidInput("invalid_form", summary, summary) from None
    flash(request, N_("Done: the other side has been told."))
    return RedirectResponse(f"/referrals/{referral.id}", status_code=303)


def _act(session: Session, settings: AppSettings, principal: Principal, referral: Referral,
         action: ReferralAction, version: int | None, form: dict[str, str]) -> None:
    if action is ReferralAction.ACCEPT:
        referrals.accept(session, settings, principal, referral=referral, note=form["note"],
                         expected_version=version)
    elif action is ReferralAction.REJECT:
        referrals.decline(session, principal, referral=referral, reason=form["reason"],
                          expected_version=version)
    elif action is ReferralAction.ADVISE:
        referrals.advise(session, principal, referral=referral,
                         advice=AdviceBody(advice=form["advice"]).advice,
                         expected_version=version)
    elif action is ReferralAction.BOOK:
        booking.book(session, principal, referral=referral, expected_version=version,
                       data=BookingBody(slot_id=_slot_id(form["slot_id"]),
                                        appointment_at=_local_time(form["appointment_at"]),
                                        appointment_place=form["appointment_place"],
                                        ward=form["ward"], bed=form["bed"], note=form["note"]))
    elif action is ReferralAction.COMPLETE:
        referrals.complete(session, settings, principal, referral=referral,
                           expected_version=version,
                           data=CompletionBody(outcome_summary=form["outcome_summary"],
                                               follow_up_plan=form["follow_up_plan"]))
    elif action is ReferralAction.SUBMIT:
        referrals.submit(session, settings, principal, referral=referral,
                         expected_version=version)
    else:
        changes = {"arrived_at": utcnow()} if action is ReferralAction.ARRIVE else None
        referrals.transition(session, principal, referral=referral, action=action,
                             reason=form["reason"], note=form["note"],
                             expected_version=version, changes=changes)


@router.post("/{referral_id}/refer-down", response_class=HTMLResponse)
def referral_down(request: Request, session: DbSession, settings: AppSettings,
                  principal: CurrentPrincipal, referral_id: Key) -> Response:
    """Send the discharged patient back to the referring hospital, in one step."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    made = referrals.refer_down(session, settings, principal, referral=referral,
                                data=DownReferralBody())
    flash(request, N_("Down referral sent with the follow-up plan."))
    return RedirectResponse(f"/referrals/{made.id}", status_code=303)


@router.post("/{referral_id}/refer-after-advice", response_class=HTMLResponse)
def referral_after_advice(request: Request, session: DbSession, settings: AppSettings,
                          principal: CurrentPrincipal, referral_id: Key) -> Response:
    """Turn the specialist's advice into a referral, in one step."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    made = referrals.refer_after_advice(session, settings, principal, advice=referral)
    flash(request, N_("Referral sent. The receiving hospital has been asked to answer."))
    return RedirectResponse(f"/referrals/{made.id}", status_code=303)


@router.post("/{referral_id}/notes", response_class=HTMLResponse)
def referral_note(request: Request, session: DbSession, principal: CurrentPrincipal,
                  referral_id: Key, note: Annotated[str, Form(min_length=1, max_length=4000)],
                  ) -> Response:
    """An interim note on the timeline."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    referrals.add_note(session, principal, referral=referral, note=note.strip())
    return RedirectResponse(f"/referrals/{referral.id}#timeline", status_code=303)


@router.post("/{referral_id}/clocks", response_class=HTMLResponse)
def referral_clock(request: Request, session: DbSession, principal: CurrentPrincipal,
                   referral_id: Key, point: Annotated[ClockPoint, Form()],
                   at: Annotated[str, Form(max_length=32)]) -> Response:
    """Record a green-channel clock time (Beijing time)."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    moment = _local_time(at)
    if moment is None:
        raise InvalidInput("bad_time", "请填写时间", "Give the time")
    care.record_clock(session, principal, referral=referral,
                      data=ClockBody(point=point, at=moment))
    return RedirectResponse(f"/referrals/{referral.id}#clocks", status_code=303)


@router.post("/{referral_id}/documents", response_class=HTMLResponse)
async def referral_document(request: Request, session: DbSession, settings: AppSettings,
                            principal: CurrentPrincipal, referral_id: Key,
                            file: UploadFile) -> Response:
    """Attach the medical record (PDF, JPEG or PNG)."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    content = await file.read(settings.referral_document_max_bytes + 1)
    care.attach_document(session, settings, principal, referral=referral,
                         filename=file.filename or "", content=content)
    flash(request, N_("Document attached."))
    return RedirectResponse(f"/referrals/{referral.id}#documents", status_code=303)


@router.get("/{referral_id}/documents/{document_id}")
def referral_document_download(session: DbSession, principal: CurrentPrincipal,
                               referral_id: Key, document_id: Key) -> Response:
    """Download an attached document (audited)."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id)
    document = care.read_document(session, referral=referral, document_id=document_id)
    return Response(document.content, media_type=document.content_type, headers={
        "Content-Disposition": f'attachment; filename="document-{document.id}"',
        "X-Content-Type-Options": "nosniff"})
