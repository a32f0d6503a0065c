"""Consultation pages: the request form, the worklists (the coordinator's queue of
requests to the institution, the requester's outgoing ones), an expert's calendar of their
sessions, the session page (case summary, the patients' shared results, experts, the room
link, the steps), the report editor with signing, and the requester's view of the signed
report with its one-step referral.

Every read and write goes through the services (which audit them); the pages only gather
form fields.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.consultations import availability, labels, room
from yilian.consultations import report as reports
from yilian.consultations import service as consultations
from yilian.consultations.models import Consultation, ConsultationKind, ConsultationStatus
from yilian.consultations.schemas import ConsultationCreate, ReferralFromReport, ReportBody
from yilian.consultations.states import TRANSITIONS, ConsultationAction, Side, actions_from
from yilian.db import utcnow
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import InvalidInput, YilianError
from yilian.patients import service as patients
from yilian.portal.pages import N_, PAGE_SIZE, flash, form_errors, page_number, pager, render_page
from yilian.referrals import icd10
from yilian.referrals import labels as referral_labels
from yilian.referrals.models import ReferralKind, Urgency
from yilian.registry import service as registry
from yilian.registry.service import PractitionerFilter
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/consultations", include_in_schema=False)
CHINA = timezone(timedelta(hours=8))  # the pages' local times are Beijing time
FORM_FIELDS = {
    "person_id": N_("Patient"), "kind": N_("Consultation kind"), "urgency": N_("Urgency"),
    "target_institution_id": N_("Consult"), "diagnosis_code": N_("Diagnosis (ICD-10)"),
    "diagnosis_text": N_("Diagnosis"), "question": N_("Question for the experts"),
    "clinical_summary": N_("Clinical summary"), "assessment": N_("Expert assessment"),
    "referral_id": N_("Attached referral number (optional)"),
    "expert_ids": N_("Experts asked for by name (optional)"),
    "recommendations": N_("Recommendations"),
}
Text = Annotated[str, Form(max_length=20000)]
Short = Annotated[str, Form(max_length=200)]


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    language = current_language.get()
    helpers = {"name_of": lambda member: labels.name_of(member, language), "china": CHINA,
               "event_name": lambda action: labels.event_name(action, language)}
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


def _rows(session: Session, found: list[Consultation]) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for consultation in found:
        person = patients.current_person(session, person_id=consultation.person_id)
        rows.append({"c": consultation, "patient_name": person.name if person else "",
                     "overdue": consultations.is_overdue(consultation, now)})
    return rows


def _institutions(session: Session, found: list[Consultation]) -> dict[int, Any]:
    ids = [i for c in found for i in (c.requesting_institution_id, c.target_institution_id)]
    return registry.institutions_by_id(session, ids=ids)


# ---------------------------------------------------------------- worklists


@router.get("", response_class=HTMLResponse)
def worklist(request: Request, session: DbSession, principal: CurrentPrincipal,
             box: str = "", status: str = "", overdue: str = "",
             page: str | None = None) -> Response:
    """The coordinator's queue (requests to us) or the requester's outgoing requests."""
    authorize(principal, Action.CONSULTATION_READ)
    if box not in ("incoming", "outgoing"):
        box = "incoming" if principal.role == "hospital_admin" else "outgoing"
    wanted = ConsultationStatus(status) if status in set(ConsultationStatus) else None
    number = page_number(page)
    where = consultations.ConsultationFilter(box=box, status=wanted, overdue=overdue == "1")
    found, total = consultations.list_(session, principal, where=where,
                                       offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return _page(request, session, "consultations/worklist.html", {
        "rows": _rows(session, list(found)), "total": total, "box": box, "status": wanted,
        "statuses": list(ConsultationStatus), "overdue": overdue == "1",
        "institutions": _institutions(session, list(found)),
        "pager": pager(request.url.path, {"box": box, "status": status, "overdue": overdue},
                       number, total),
    })


@router.get("/calendar", response_class=HTMLResponse)
def calendar(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The signed-in expert's sessions, by time."""
    authorize(principal, Action.CONSULTATION_READ)
    found: list[Consultation] = []
    if principal.practitioner_id is not None:
        rows, _ = consultations.list_(
            session, principal, limit=200,
            where=consultations.ConsultationFilter(expert_id=principal.practitioner_id))
        found = list(rows)
    upcoming = [c for c in found if c.status in (ConsultationStatus.SCHEDULED,
                                                 ConsultationStatus.IN_SESSION)]
    return _page(request, session, "consultations/calendar.html", {
        "rows": _rows(session, upcoming),
        "others": _rows(session, [c for c in found if c not in upcoming]),
        "institutions": _institutions(session, found),
        "is_expert": principal.practitioner_id is not None,
    })


# ---------------------------------------------------------------- the request form


def _targets(session: Session, principal: Principal) -> list[Any]:
    rows, _ = registry.list_institutions(session, where=registry.InstitutionFilter(),
                                         limit=1000)
    offered = [i for i in rows if i.id != principal.institution_id]
    offered.sort(key=lambda i: (-i.level, i.code))
    return offered


def _form(request: Request, session: Session, principal: Principal, values: dict[str, str],
          *, error: str | None = None, field_errors: dict[str, str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    chosen = None
    if values.get("person_id", "").isdigit():
        try:
            chosen = patients.get_person_or_raise(session, principal,
                                                  person_id=int(values["person_id"]))
        except YilianError:
            chosen = None
    target = values.get("target_institution_id", "")
    return _page(request, session, "consultations/form.html", {
        "experts": _experts(session, target, values.get("target_specialty", "")),
        "chosen_experts": set(values.get("expert_ids", "").split(",")),
        "values": values, "error": error, "field_errors": field_errors or {},
        "chosen": chosen, "kinds": list(ConsultationKind), "urgencies": list(Urgency),
        "targets": _targets(session, principal), "diagnoses": icd10.catalogue(),
    }, status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def request_form(request: Request, session: DbSession, principal: CurrentPrincipal,
                 person_id: str = "") -> HTMLResponse:
    """The request form."""
    authorize(principal, Action.CONSULTATION_REQUEST)
    return _form(request, session, principal, {
        "person_id": person_id, "kind": ConsultationKind.MDT.value,
        "urgency": Urgency.ROUTINE.value})


def _experts(session: Session, target: str, specialty: str) -> list[Any]:
    """The consulted institution's practitioners, those of the wanted specialty first."""
    if not target.isdigit():
        return []
    found, _ = registry.list_practitioners(
        session, where=PractitionerFilter(institution_id=int(target)), limit=200)
    wanted = specialty.strip()
    return sorted(found, key=lambda p: (bool(wanted) and p.specialty != wanted, p.name))


@router.get("/new/experts", response_class=HTMLResponse)
def expert_choices(request: Request, session: DbSession, principal: CurrentPrincipal,
                   target_institution_id: str = "", target_specialty: str = "") -> HTMLResponse:
    """The consulted hospital's experts to name in the request (an htmx fragment)."""
    authorize(principal, Action.CONSULTATION_REQUEST)
    return _page(request, session, "consultations/_experts.html", {
        "experts": _experts(session, target_institution_id, target_specialty),
        "chosen_experts": set()})


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.replace("，", ",").replace(" ", ",").split(",")
            if part.strip().isdigit()]


@router.post("/new", response_class=HTMLResponse)
def request_save(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    person_id: Annotated[str, Form(max_length=20)] = "",
    other_person_ids: Short = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    urgency: Annotated[str, Form(max_length=20)] = "",
    target_institution_id: Annotated[str, Form(max_length=20)] = "",
    target_specialty: Annotated[str, Form(max_length=64)] = "",
    diagnosis_code: Annotated[str, Form(max_length=16)] = "",
    diagnosis_text: Short = "",
    question: Text = "", clinical_summary: Text = "",
    preferred_times: Annotated[str, Form(max_length=500)] = "",
    referral_id: Annotated[str, Form(max_length=12)] = "",
    expert_ids: Annotated[list[str] | None, Form(max_length=10)] = None,
) -> Response:
    """Send the request; on bad input show the form again with what is wrong."""
    authorize(principal, Action.CONSULTATION_REQUEST)
    named = [e for e in (expert_ids or []) if e.strip()]
    values = {"person_id": person_id, "other_person_ids": other_person_ids, "kind": kind,
              "referral_id": referral_id, "expert_ids": ",".join(named),
              "urgency": urgency, "target_institution_id": target_institution_id,
              "target_specialty": target_specialty, "diagnosis_code": diagnosis_code,
              "diagnosis_text": diagnosis_text, "question": question,
              "clinical_summary": clinical_summary, "preferred_times": preferred_times}
    listed = icd10.find(diagnosis_code)
    if listed is not None and not diagnosis_text.strip():
        values["diagnosis_text"] = listed.name
    field_errors: dict[str, str] = {}
    try:
        data = ConsultationCreate.model_validate(
            {key: value.strip() for key, value in values.items()
             if value.strip() and key not in ("other_person_ids", "expert_ids")}
            | {"other_person_ids": _ids(other_person_ids), "expert_ids": named})
        made = consultations.create(session, settings, principal, data=data)
    except ValidationError as invalid:
        summary, field_errors = form_errors(invalid, FORM_FIELDS)
    except YilianError as refused:
        summary = refused.message(current_language.get())
    else:
        flash(request, N_("Consultation requested. The consulted hospital has been asked to "
                          "answer."))
        return RedirectResponse(f"/consultations/{made.id}", status_code=303)
    session.rollback()
    return _form(request, session, principal, values, error=summary,
                 field_errors=field_errors, status_code=422)


# ---------------------------------------------------------------- one consultation


def _sides(principal: Principal, consultation: Consultation) -> dict[str, bool]:
    return {side.value: consultations.may_act_for(principal, consultation, side)
            for side in Side}


@router.get("/{consultation_id}", response_class=HTMLResponse)
def detail(request: Request, session: DbSession, settings: AppSettings,
           principal: CurrentPrincipal, consultation_id: Key) -> HTMLResponse:
    """The session page: case, patients and their shared results, experts, time and room,
    the signed report, and the steps the reader may take."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    sides = _sides(principal, consultation)
    allowed = [a for a in actions_from(consultation.status)
               if a is not ConsultationAction.SIGN_OFF
               and any(sides[s.value] for s in TRANSITIONS[a].sides)]
    people = [patients.current_person(session, person_id=pid)
              for pid in consultations.person_ids(consultation)]
    candidates: list[Any] = []
    if ConsultationAction.ACCEPT in allowed:
        rows, _ = registry.list_practitioners(session, limit=200, where=PractitionerFilter(
            institution_id=consultation.target_institution_id))
        candidates = list(rows)
    offered: list[datetime] = []
    if ConsultationAction.SCHEDULE in allowed:
        offered = availability.free_starts(
            session, practitioner_ids=consultations.expert_ids(consultation), after=utcnow(),
            minutes=settings.consultation_session_minutes, zone=settings.scheduling_timezone,
            except_consultation_id=consultation.id)
    experts = {e.practitioner_id: registry.get_practitioner_or_raise(
        session, practitioner_id=e.practitioner_id) for e in consultation.experts}
    report = reports.get_report(session, consultation=consultation)
    return _page(request, session, "consultations/detail.html", {
        "c": consultation, "people": [p for p in people if p is not None],
        "sides": sides, "actions": allowed, "A": ConsultationAction,
        "candidates": candidates, "offered": offered, "experts": experts,
        "named": set(_ids(consultation.requested_expert_ids)),
        "institutions": _institutions(session, [consultation]),
        "overdue": consultations.is_overdue(consultation, utcnow()),
        "room_url": consultations.room_url(settings, consultation),
        "attendance": room.attendance(session, consultation=consultation),
        "may_record_attendance": sides["coordinator"] and bool(consultation.experts)
        and consultation.status in room.RECORDABLE,
        "report": report, "signed": reports.is_signed(report),
        "signed_by": {s.practitioner_id for s in report.signatures} if report else set(),
        "documents": reports.list_documents(session, consultation=consultation),
        "may_refer": sides["requester"] and reports.is_signed(report)
        and consultation.follow_up_referral_id is None
        and consultation.status in (ConsultationStatus.REPORTED, ConsultationStatus.CLOSED),
        "referral_kinds": [(k.value, referral_labels.name_of(k, current_language.get()))
                           for k in ReferralKind],
        "may_join": consultation.status in (ConsultationStatus.SCHEDULED,
                                            ConsultationStatus.IN_SESSION)
        and any(sides.values()),
    })


def _local_time(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("bad_time", "时间格式不正确", "The time is not valid") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


@router.post("/{consultation_id}/act/{action}", response_class=HTMLResponse)
def act(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    consultation_id: Key, action: ConsultationAction,
    version: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    expert_ids: Annotated[list[int] | None, Form()] = None,
    starts_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Take one step of the workflow on the version the reader saw."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    if action is ConsultationAction.ACCEPT:
        consultations.accept(session, principal, consultation=consultation,
                             practitioner_ids=expert_ids or [], note=note.strip(),
                             expected_version=version)
    elif action is ConsultationAction.DECLINE:
        consultations.decline(session, principal, consultation=consultation,
                              reason=reason.strip(), expected_version=version)
    elif action is ConsultationAction.SCHEDULE:
        if not starts_at.strip():
            raise InvalidInput("time_required", "请选择会诊时间", "Choose the session time")
        consultations.schedule(session, settings, principal, consultation=consultation,
                               starts_at=_local_time(starts_at), expected_version=version)
    elif action is ConsultationAction.START:
        consultations.start(session, principal, consultation=consultation,
                            expected_version=version)
    elif action is ConsultationAction.CLOSE:
        consultations.close(session, principal, consultation=consultation, note=note.strip(),
                            expected_version=version)
    elif action is ConsultationAction.CANCEL:
        consultations.cancel(session, principal, consultation=consultation,
                             reason=reason.strip(), expected_version=version)
    else:
        raise InvalidInput("not_a_page_step", "该步骤由系统完成", "The system takes this step")
    flash(request, N_("Done: the other side has been told."))
    return RedirectResponse(f"/consultations/{consultation.id}", status_code=303)


@router.post("/{consultation_id}/attendance", response_class=HTMLResponse)
def attendance(request: Request, session: DbSession, principal: CurrentPrincipal,
               consultation_id: Key,
               expert_ids: Annotated[list[int] | None, Form()] = None) -> Response:
    """The coordinator records the assigned experts who took part."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    if not expert_ids:
        raise InvalidInput("experts_required", "请选择出席的专家", "Choose who took part")
    room.record_attendance(session, principal, consultation=consultation,
                           practitioner_ids=expert_ids)
    flash(request, N_("Attendance recorded."))
    return RedirectResponse(f"/consultations/{consultation.id}#session", status_code=303)


@router.post("/{consultation_id}/join", response_class=HTMLResponse)
def join(request: Request, session: DbSession, settings: AppSettings,
         principal: CurrentPrincipal, consultation_id: Key) -> Response:
    """Record attendance, then open the video room."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    url = room.attend(session, settings, principal, consultation=consultation)
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------- the report


@router.get("/{consultation_id}/report", response_class=HTMLResponse)
def report_editor(request: Request, session: DbSession, principal: CurrentPrincipal,
                  consultation_id: Key) -> HTMLResponse:
    """The report editor (an assigned expert): write, save, sign; amend once signed."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    report = reports.get_report(session, consultation=consultation)
    sides = _sides(principal, consultation)
    experts = {e.practitioner_id: registry.get_practitioner_or_raise(
        session, practitioner_id=e.practitioner_id) for e in consultation.experts}
    return _page(request, session, "consultations/report.html", {
        "c": consultation, "report": report, "signed": reports.is_signed(report),
        "expert": sides["expert"], "experts": experts,
        "signed_by": {s.practitioner_id for s in report.signatures} if report else set(),
        "me": principal.practitioner_id,
        "writable": consultation.status in reports.WRITABLE,
    })


@router.post("/{consultation_id}/report", response_class=HTMLResponse)
def report_save(
    request: Request, session: DbSession, principal: CurrentPrincipal, consultation_id: Key,
    findings: Text = "", assessment: Text = "", recommendations: Text = "",
    refer_up: Annotated[str, Form(max_length=8)] = "",
    sign: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the draft; with ``sign``, save and sign it in one go."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    try:
        data = ReportBody(findings=findings, assessment=assessment,
                          recommendations=recommendations, refer_up=refer_up == "yes")
    except ValidationError as invalid:
        summary, _ = form_errors(invalid, FORM_FIELDS)
        raise InvalidInput("invalid_form", summary, summary) from None
    reports.save_draft(session, principal, consultation=consultation, data=data)
    if sign == "yes":
        reports.sign(session, principal, consultation=consultation)
        flash(request, N_("Report signed."))
    else:
        flash(request, N_("Draft saved."))
    return RedirectResponse(f"/consultations/{consultation.id}/report", status_code=303)


@router.post("/{consultation_id}/report/sign", response_class=HTMLResponse)
def report_sign(request: Request, session: DbSession, principal: CurrentPrincipal,
                consultation_id: Key) -> Response:
    """Sign the report as it stands (frozen since the first signature)."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    reports.sign(session, principal, consultation=consultation)
    flash(request, N_("Report signed."))
    return RedirectResponse(f"/consultations/{consultation.id}/report", status_code=303)


@router.post("/{consultation_id}/report/amend", response_class=HTMLResponse)
def report_amend(request: Request, session: DbSession, principal: CurrentPrincipal,
                 consultation_id: Key, text: Text = "") -> Response:
    """Append an amendment below the signed report."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    reports.amend(session, principal, consultation=consultation, text=text)
    flash(request, N_("Amendment added."))
    return RedirectResponse(f"/consultations/{consultation.id}/report", status_code=303)


@router.post("/{consultation_id}/referral", response_class=HTMLResponse)
def refer(request: Request, session: DbSession, settings: AppSettings,
          principal: CurrentPrincipal, consultation_id: Key,
          consent_recorded: Annotated[str, Form(max_length=8)] = "",
          kind: Annotated[str, Form(max_length=20)] = "outpatient") -> Response:
    """Start the referral the report recommends, and open it."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    if consent_recorded != "yes":
        raise InvalidInput("consent_required", "转诊须先取得患者（或监护人）同意",
                           "A referral needs the patient's (or guardian's) consent first")
    wanted = ReferralKind(kind) if kind in set(ReferralKind) else ReferralKind.OUTPATIENT
    referral = reports.start_referral(session, settings, principal, consultation=consultation,
                                      data=ReferralFromReport(consent_recorded=True,
                                                              kind=wanted))
    flash(request, N_("A draft referral was made from the report: check it and send it."))
    return RedirectResponse(f"/referrals/{referral.id}", status_code=303)


# ---------------------------------------------------------------- documents


@router.post("/{consultation_id}/documents", response_class=HTMLResponse)
async def attach(request: Request, session: DbSession, settings: AppSettings,
                 principal: CurrentPrincipal, consultation_id: Key,
                 file: UploadFile) -> Response:
    """Attach a medical record (PDF, JPEG or PNG)."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    content = await file.read(settings.consultation_document_max_bytes + 1)
    reports.attach_document(session, settings, principal, consultation=consultation,
                            filename=file.filename or "", content=content)
    flash(request, N_("Document attached."))
    return RedirectResponse(f"/consultations/{consultation.id}#documents", status_code=303)


@router.get("/{consultation_id}/documents/{document_id}")
def download(session: DbSession, principal: CurrentPrincipal, consultation_id: Key,
             document_id: Key) -> Response:
    """Download an attached document (audited)."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id)
    document = reports.read_document(session, consultation=consultation,
                                     document_id=document_id)
    return Response(document.content, media_type=document.content_type, headers={
        "Content-Disposition": f'attachment; filename="document-{document.id}"',
        "X-Content-Type-Options": "nosniff"})
