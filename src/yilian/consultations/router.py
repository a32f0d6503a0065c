"""Consultation REST API under ``/api/v1/consultations``: request, list, read, each workflow
step as a POST action, attendance, the report (draft, sign, amend), the referral started
from it, and documents.

A consultation is visible to its requesting and its consulted institution; anyone else
gets 404. Reads and writes are audited by the services.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from yilian import tables
from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.consultations import availability, counts, room
from yilian.consultations import report as reports
from yilian.consultations import service as consultations
from yilian.consultations.models import Consultation, ConsultationKind, ConsultationStatus
from yilian.consultations.schemas import (
    AcceptBody,
    ActionBody,
    AmendmentBody,
    AmendmentRead,
    AttendanceBody,
    AttendanceRead,
    ConsultationCounts,
    ConsultationCreate,
    ConsultationRead,
    ConsultationSummary,
    DeclineBody,
    DocumentRead,
    EventRead,
    ExpertRead,
    ReferralFromReport,
    ReportBody,
    ReportRead,
    ScheduleBody,
    SignatureRead,
)
from yilian.db import utcnow
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import InvalidInput
from yilian.referrals.router import read_of as referral_read_of
from yilian.referrals.schemas import ReferralRead
from yilian.schemas import LARGEST_KEY, Key, Page

router = APIRouter(prefix="/api/v1/consultations", tags=["consultations"],
                   dependencies=[RequirePermission(Action.CONSULTATION_READ)])
# The counts answer analysts too, who read no single consultation: their own router,
# included before the one above so "/counts" is not taken for a consultation id.
counts_router = APIRouter(prefix="/api/v1/consultations", tags=["consultations"])
Offset = Annotated[int, Query(ge=0, le=LARGEST_KEY)]
MONTH_OR_EMPTY = r"^(\d{4}-(0[1-9]|1[0-2]))?$"
KIND_PATTERN = "^(" + "|".join(kind.value for kind in ConsultationKind) + ")?$"
Limit = Annotated[int, Query(ge=1, le=200)]


def _current(consultation_id: Key, session: DbSession,
             principal: CurrentPrincipal) -> Consultation:
    return consultations.get_or_raise(session, principal, consultation_id=consultation_id)


CurrentConsultation = Annotated[Consultation, Depends(_current)]


def _if_match(
    if_match: Annotated[str | None, Header(description='Version the client saw: "3" or W/"3"')]
    = None,
) -> int | None:
    if not if_match:
        return None
    digits = if_match.strip().removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise InvalidInput("bad_if_match", "If-Match 须为会诊的版本号",
                           "If-Match must be the consultation's version number")
    return int(digits)


IfMatch = Annotated[int | None, Depends(_if_match)]


def summary_of(consultation: Consultation) -> ConsultationSummary:
    """A worklist row with its overdue flag."""
    return ConsultationSummary.model_validate(consultation).model_copy(
        update={"overdue": consultations.is_overdue(consultation, utcnow())})


def read_of(session: Session, settings: Settings, consultation: Consultation,
            ) -> ConsultationRead:
    """A consultation in full: experts, attendance, timeline, report, documents."""
    report = reports.get_report(session, consultation=consultation)
    shown = ConsultationRead.model_validate(consultation)
    return shown.model_copy(update={
        "overdue": consultations.is_overdue(consultation, utcnow()),
        "other_person_ids": consultations.person_ids(consultation)[1:],
        "room_url": consultations.room_url(settings, consultation),
        "experts": [ExpertRead.model_validate(e) for e in consultation.experts],
        "attendance": [AttendanceRead.model_validate(a)
                       for a in room.attendance(session, consultation=consultation)],
        "events": [EventRead.model_validate(e) for e in consultation.events],
        "report": None if report is None else ReportRead.model_validate(report).model_copy(
            update={"signatures": [SignatureRead.model_validate(s) for s in report.signatures],
                    "amendments": [AmendmentRead.model_validate(a)
                                   for a in report.amendments]}),
        "documents": [DocumentRead.model_validate(d)
                      for d in reports.list_documents(session, consultation=consultation)],
    })


def counts_query(
    period_from: Annotated[str | None, Query(alias="from", pattern=MONTH_OR_EMPTY,
                                             description="First month, YYYY-MM")] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=MONTH_OR_EMPTY,
                                           description="Last month, YYYY-MM")] = None,
    # Empty values are "all", as the page's filter form sends them.
    institution_id: Annotated[str, Query(pattern=r"^\d{0,9}$",
                                         description="Either side; empty: all")] = "",
    kind: Annotated[str, Query(pattern=KIND_PATTERN, description="Empty: all kinds")] = "",
) -> counts.CountsQuery:
    """The query string of the counts (default: the twelve months up to this one)."""
    return counts.CountsQuery(period_from=period_from or None, period_to=period_to or None,
                              institution_id=int(institution_id) if institution_id else None,
                              kind=ConsultationKind(kind) if kind else None)


Counter = Annotated[Principal, RequirePermission(Action.CONSULTATION_COUNTS)]
CountsFilter = Annotated[counts.CountsQuery, Depends(counts_query)]


@counts_router.get("/counts", response_model=ConsultationCounts)
def consultation_counts(session: DbSession, settings: AppSettings, principal: Counter,
                        query: CountsFilter) -> ConsultationCounts:
    """By kind, institution and specialty; response times per urgency; referred up vs kept
    local; each with its definition."""
    return counts.counts(session, settings, principal, query=query)


@counts_router.get("/counts.{fmt}", response_class=Response)
def export_counts(session: DbSession, settings: AppSettings, principal: Counter,
                  query: CountsFilter,
                  fmt: Annotated[Literal["csv", "xlsx"], Path()]) -> Response:
    """The same counts as one table, CSV (UTF-8 with BOM) or XLSX, definitions below."""
    report = counts.counts(session, settings, principal, query=query)
    return tables.download(counts.counts_table(report), "consultation-counts", fmt)


@router.post("", response_model=ConsultationRead, status_code=201)
def request_consultation(body: ConsultationCreate, session: DbSession, settings: AppSettings,
                         principal: Annotated[Principal, RequirePermission(
                             Action.CONSULTATION_REQUEST)]) -> ConsultationRead:
    """Ask another institution for a consultation (MDT, ward round, case discussion…)."""
    return read_of(session, settings,
                   consultations.create(session, settings, principal, data=body))


@router.get("", response_model=Page[ConsultationSummary])
def list_consultations(
    session: DbSession, principal: CurrentPrincipal,
    box: Annotated[str, Query(pattern="^(incoming|outgoing|)$")] = "",
    status: ConsultationStatus | None = None, overdue: bool = False,
    expert_id: Key | None = None, person_id: Key | None = None,
    offset: Offset = 0, limit: Limit = 50,
) -> Page[ConsultationSummary]:
    """Incoming (asked of us) or outgoing consultations, by status, overdue, expert."""
    where = consultations.ConsultationFilter(box=box, status=status, overdue=overdue,
                                             expert_id=expert_id, person_id=person_id)
    rows, total = consultations.list_(session, principal, where=where, offset=offset,
                                      limit=limit)
    return Page[ConsultationSummary](items=[summary_of(r) for r in rows], total=total,
                                     offset=offset, limit=limit)


@router.get("/{consultation_id}", response_model=ConsultationRead)
def read_consultation(consultation: CurrentConsultation, session: DbSession,
                      settings: AppSettings) -> ConsultationRead:
    """One consultation in full."""
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/accept", response_model=ConsultationRead)
def accept(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
           settings: AppSettings, principal: CurrentPrincipal,
           body: AcceptBody) -> ConsultationRead:
    """The coordinator accepts and assigns the experts."""
    consultations.accept(session, principal, consultation=consultation,
                         practitioner_ids=body.expert_ids, note=body.note,
                         expected_version=version)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/decline", response_model=ConsultationRead)
def decline(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
            settings: AppSettings, principal: CurrentPrincipal,
            body: DeclineBody) -> ConsultationRead:
    """Decline with a reason."""
    consultations.decline(session, principal, consultation=consultation, reason=body.reason,
                          expected_version=version)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/schedule", response_model=ConsultationRead)
def schedule(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
             settings: AppSettings, principal: CurrentPrincipal,
             body: ScheduleBody) -> ConsultationRead:
    """Set the session's time (409 when an expert is busy then)."""
    consultations.schedule(session, settings, principal, consultation=consultation,
                           starts_at=body.starts_at, minutes=body.minutes,
                           expected_version=version)
    return read_of(session, settings, consultation)


@router.get("/{consultation_id}/free-times", response_model=list[str])
def free_times(consultation: CurrentConsultation, session: DbSession, settings: AppSettings,
               minutes: Annotated[int | None, Query(ge=10, le=480)] = None) -> list[str]:
    """The next times every assigned expert is free (ISO 8601, local time)."""
    found = availability.free_starts(
        session, practitioner_ids=consultations.expert_ids(consultation), after=utcnow(),
        minutes=minutes or settings.consultation_session_minutes,
        zone=settings.scheduling_timezone, except_consultation_id=consultation.id)
    return [moment.isoformat() for moment in found]


@router.post("/{consultation_id}/start", response_model=ConsultationRead)
def start(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
          settings: AppSettings, principal: CurrentPrincipal) -> ConsultationRead:
    """The session begins."""
    consultations.start(session, principal, consultation=consultation,
                        expected_version=version)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/join", response_model=dict[str, str])
def join(consultation: CurrentConsultation, session: DbSession, settings: AppSettings,
         principal: CurrentPrincipal) -> dict[str, str]:
    """Record attendance and give the video room link."""
    return {"room_url": room.attend(session, settings, principal,
                                             consultation=consultation)}


@router.post("/{consultation_id}/attendance", response_model=list[AttendanceRead])
def record_attendance(consultation: CurrentConsultation, session: DbSession,
                      principal: CurrentPrincipal, body: AttendanceBody) -> list[AttendanceRead]:
    """The coordinator records assigned experts who took part without signing in."""
    room.record_attendance(session, principal, consultation=consultation,
                           practitioner_ids=body.practitioner_ids)
    return [AttendanceRead.model_validate(a)
            for a in room.attendance(session, consultation=consultation)]


@router.put("/{consultation_id}/report", response_model=ReportRead)
def write_report(consultation: CurrentConsultation, session: DbSession,
                 principal: CurrentPrincipal, body: ReportBody) -> ReportRead:
    """Write or change the draft opinion (before anyone signs)."""
    return ReportRead.model_validate(
        reports.save_draft(session, principal, consultation=consultation, data=body))


@router.post("/{consultation_id}/report/sign", response_model=ConsultationRead)
def sign_report(consultation: CurrentConsultation, session: DbSession, settings: AppSettings,
                principal: CurrentPrincipal) -> ConsultationRead:
    """Sign the report (each assigned expert); it is frozen from the first signature."""
    reports.sign(session, principal, consultation=consultation)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/report/amendments", response_model=AmendmentRead,
             status_code=201)
def amend_report(consultation: CurrentConsultation, session: DbSession,
                 principal: CurrentPrincipal, body: AmendmentBody) -> AmendmentRead:
    """Append an amendment to the signed report."""
    return AmendmentRead.model_validate(
        reports.amend(session, principal, consultation=consultation, text=body.text))


@router.post("/{consultation_id}/referral", response_model=ReferralRead, status_code=201)
def refer_from_report(consultation: CurrentConsultation, session: DbSession,
                      settings: AppSettings, principal: CurrentPrincipal,
                      body: ReferralFromReport) -> ReferralRead:
    """Start the referral the report recommends (a draft, prefilled) in one step."""
    made = reports.start_referral(session, settings, principal, consultation=consultation,
                                  data=body)
    return referral_read_of(session, made)


@router.post("/{consultation_id}/close", response_model=ConsultationRead)
def close(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
          settings: AppSettings, principal: CurrentPrincipal,
          body: ActionBody | None = None) -> ConsultationRead:
    """Close after the report; the records stop being shared."""
    consultations.close(session, principal, consultation=consultation,
                        note=body.note if body else "", expected_version=version)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/cancel", response_model=ConsultationRead)
def cancel(consultation: CurrentConsultation, version: IfMatch, session: DbSession,
           settings: AppSettings, principal: CurrentPrincipal,
           body: ActionBody | None = None) -> ConsultationRead:
    """Withdraw the request (requesting side); the records stop being shared."""
    consultations.cancel(session, principal, consultation=consultation,
                         reason=body.reason if body else "", expected_version=version)
    return read_of(session, settings, consultation)


@router.post("/{consultation_id}/documents", response_model=DocumentRead, status_code=201)
async def upload_document(consultation: CurrentConsultation, session: DbSession,
                          settings: AppSettings, principal: CurrentPrincipal,
                          file: UploadFile) -> DocumentRead:
    """Attach a medical record: PDF, JPEG or PNG, size-limited."""
    content = await file.read(settings.consultation_document_max_bytes + 1)
    document = reports.attach_document(session, settings, principal,
                                       consultation=consultation,
                                       filename=file.filename or "", content=content)
    return DocumentRead.model_validate(document)


@router.get("/{consultation_id}/documents/{document_id}", response_class=Response)
def download_document(consultation_id: Key, session: DbSession, principal: CurrentPrincipal,
                      document_id: Key) -> Response:
    """Download a document (audited: the download is the record, not a read of the
    consultation besides)."""
    consultation = consultations.get_or_raise(session, principal,
                                              consultation_id=consultation_id, audited=False)
    document = reports.read_document(session, consultation=consultation,
                                     document_id=document_id)
    return Response(document.content, media_type=document.content_type, headers={
        "Content-Disposition": f'attachment; filename="document-{document.id}"',
        "X-Content-Type-Options": "nosniff",
    })
