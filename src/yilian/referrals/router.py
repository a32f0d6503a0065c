"""Referral REST API under ``/api/v1/referrals``: make, list, read, each workflow step as a
POST action, notes, clock times, documents, and the bed census departments publish.

A referral is visible to its referring and its receiving institution; anyone else gets 404.
Every read is audited by the service; writes are audited with their transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from yilian import idempotency
from yilian.auth.permissions import Action, Principal
from yilian.db import utcnow
from yilian.deps import SAFE_METHODS, AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import InvalidInput
from yilian.idempotency import IdempotencyKey, Keyed
from yilian.patients import service as patients
from yilian.referrals import booking, care, rules
from yilian.referrals import service as referrals
from yilian.referrals.models import Referral, ReferralKind, TaskStatus
from yilian.referrals.schemas import (
    ActionBody,
    AdviceBody,
    BedCensusRead,
    BedCensusUpdate,
    BookingBody,
    ClockBody,
    ClockRead,
    CompletionBody,
    DocumentRead,
    DownReferralBody,
    EventRead,
    IntervalRead,
    NoteBody,
    ReferralCreate,
    ReferralRead,
    ReferralSummary,
)
from yilian.referrals.states import ReferralAction
from yilian.schemas import LARGEST_KEY, Key, Page

router = APIRouter(prefix="/api/v1/referrals", tags=["referrals"],
                   dependencies=[RequirePermission(Action.REFERRAL_READ)])
beds_router = APIRouter(prefix="/api/v1", tags=["referrals"])

Writer = Annotated[Principal, RequirePermission(Action.REFERRAL_WRITE)]
Responder = Annotated[Principal, RequirePermission(Action.REFERRAL_RESPOND)]
Offset = Annotated[int, Query(ge=0, le=LARGEST_KEY)]
Limit = Annotated[int, Query(ge=1, le=200)]


def _current_referral(referral_id: Key, session: DbSession, principal: CurrentPrincipal,
                      request: Request) -> Referral:
    # A POST acts on the referral: read it locked once, for the whole step.
    return referrals.get_or_raise(session, principal, referral_id=referral_id,
                                  for_update=request.method not in SAFE_METHODS)


CurrentReferral = Annotated[Referral, Depends(_current_referral)]


def _if_match(
    if_match: Annotated[str | None, Header(description='Version the client saw: "3" or W/"3"')]
    = None,
) -> int | None:
    """The version an action was decided on (``If-Match``); a stale one is a 409."""
    if not if_match:
        return None
    digits = if_match.strip().removeprefix("W/").strip('"')
    if not digits.isdigit():
        raise InvalidInput("bad_if_match", "If-Match 须为转诊的版本号",
                           "If-Match must be the referral's version number")
    return int(digits)


IfMatch = Annotated[int | None, Depends(_if_match)]


def summary_of(referral: Referral, patient_name: str = "") -> ReferralSummary:
    """A referral as a worklist row, with its overdue flag."""
    return ReferralSummary.model_validate(referral).model_copy(update={
        "patient_name": patient_name,
        "overdue": rules.is_overdue(referral.status, referral.response_due_at, utcnow()),
    })


def read_of(session: DbSession, referral: Referral) -> ReferralRead:
    """A referral in full: timeline, clock times and their targets, documents."""
    shown = ReferralRead.model_validate(referral)  # its timeline and clock times included
    person = patients.current_person(session, person_id=referral.person_id)
    return shown.model_copy(update={
        "patient_name": person.name if person else "",
        "overdue": rules.is_overdue(referral.status, referral.response_due_at, utcnow()),
        "intervals": [IntervalRead(name=r.target.name, minutes=r.minutes,
                                   limit_minutes=r.target.limit_minutes, met=r.met)
                      for r in care.intervals(referral)],
        "documents": [DocumentRead.model_validate(d)
                      for d in care.list_documents(session, referral=referral)],
    })


def _step(keyed: Keyed, session: DbSession, principal: Principal, referral: Referral,
          act: Callable[[], object]) -> ReferralRead | JSONResponse:
    """Take a step on the referral and show it; a keyed retry gets the first answer."""

    def step() -> ReferralRead:
        act()
        return read_of(session, referral)

    return idempotency.answer(session, principal, keyed, step, patient_id=referral.person_id)


def _made(keyed: Keyed, session: DbSession, principal: Principal, person_id: int,
          make: Callable[[], Referral]) -> ReferralRead | JSONResponse:
    """Make a referral and show it (201); a keyed retry gets the first answer, not a twin."""
    return idempotency.answer(session, principal, keyed, lambda: read_of(session, make()),
                              status_code=201, patient_id=person_id)


@router.post("", response_model=ReferralRead, status_code=201)
def create_referral(body: ReferralCreate, session: DbSession, settings: AppSettings,
                    principal: Writer, keyed: IdempotencyKey) -> ReferralRead | JSONResponse:
    """Refer a patient (consent required); sent at once unless ``draft``."""
    return _made(keyed, session, principal, body.person_id,
                 lambda: referrals.create(session, settings, principal, data=body))


@router.get("", response_model=Page[ReferralSummary])
def list_referrals(
    session: DbSession,
    principal: CurrentPrincipal,
    box: Annotated[str, Query(pattern="^(incoming|outgoing|)$")] = "",
    status: TaskStatus | None = None,
    overdue: bool = False,
    person_id: Key | None = None,
    kind: ReferralKind | None = None,
    green_channel: bool = False,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ReferralSummary]:
    """Incoming or outgoing referrals, by status, overdue, patient; newest first."""
    where = referrals.ReferralFilter(box=box, status=status, overdue=overdue,
                                     person_id=person_id, kind=kind, green_only=green_channel)
    rows, total = referrals.list_(session, principal, where=where, offset=offset, limit=limit)
    return Page[ReferralSummary](items=[summary_of(row) for row in rows], total=total,
                                 offset=offset, limit=limit)


@router.get("/{referral_id}", response_model=ReferralRead)
def read_referral(referral: CurrentReferral, session: DbSession) -> ReferralRead:
    """One referral with its timeline."""
    return read_of(session, referral)


@router.post("/{referral_id}/submit", response_model=ReferralRead)
def submit(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
           settings: AppSettings, principal: Writer) -> ReferralRead | JSONResponse:
    """Send a draft."""
    return _step(keyed, session, principal, referral, lambda: referrals.submit(
        session, settings, principal, referral=referral, expected_version=version))


@router.post("/{referral_id}/receive", response_model=ReferralRead)
def receive(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
            principal: Responder, body: ActionBody | None = None) -> ReferralRead | JSONResponse:
    """The receiving side has seen the referral."""
    return _step(keyed, session, principal, referral, lambda: referrals.transition(
        session, principal, referral=referral, action=ReferralAction.RECEIVE,
        expected_version=version, note=body.note if body else ""))


@router.post("/{referral_id}/accept", response_model=ReferralRead)
def accept(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
           settings: AppSettings, principal: Responder, body: ActionBody | None = None
          ) -> ReferralRead | JSONResponse:
    """Take the patient: the patient's records are shared with the receiving institution."""
    return _step(keyed, session, principal, referral, lambda: referrals.accept(
        session, settings, principal, referral=referral, note=body.note if body else "",
        expected_version=version))


@router.post("/{referral_id}/decline", response_model=ReferralRead)
def decline(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
            principal: Responder, body: ActionBody) -> ReferralRead | JSONResponse:
    """Decline, with the reason the referrer will read."""
    return _step(keyed, session, principal, referral, lambda: referrals.decline(
        session, principal, referral=referral, reason=body.reason, expected_version=version))


@router.post("/{referral_id}/advise", response_model=ReferralRead)
def advise(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
           principal: Responder, body: AdviceBody) -> ReferralRead | JSONResponse:
    """Answer with advice instead of taking the patient (Advice & Guidance)."""
    return _step(keyed, session, principal, referral, lambda: referrals.advise(
        session, principal, referral=referral, advice=body.advice, expected_version=version))


@router.post("/{referral_id}/refer-after-advice", response_model=ReferralRead, status_code=201)
def refer_after_advice(keyed: IdempotencyKey, referral: CurrentReferral, session: DbSession,
                       settings: AppSettings, principal: Writer) -> ReferralRead | JSONResponse:
    """Turn the advice into a referral to the same place, in one step."""
    return _made(keyed, session, principal, referral.person_id,
                 lambda: referrals.refer_after_advice(session, settings, principal,
                                                      advice=referral))


@router.post("/{referral_id}/book", response_model=ReferralRead)
def book(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
         principal: CurrentPrincipal, body: BookingBody) -> ReferralRead | JSONResponse:
    """Record the appointment or the bed (receiving side); once accepted, the referring side
    may book a free clinic slot (``slot_id``) of the receiving department."""
    return _step(keyed, session, principal, referral, lambda: booking.book(
        session, principal, referral=referral, data=body, expected_version=version))


@router.post("/{referral_id}/arrive", response_model=ReferralRead)
def arrive(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
           principal: Responder, body: ActionBody | None = None) -> ReferralRead | JSONResponse:
    """The patient arrived or was admitted (the referrer is told)."""
    return _step(keyed, session, principal, referral, lambda: referrals.arrive(
        session, principal, referral=referral, note=body.note if body else "",
        expected_version=version))


@router.post("/{referral_id}/complete", response_model=ReferralRead)
def complete(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch,
             session: DbSession, settings: AppSettings, principal: Responder, body: CompletionBody
            ) -> ReferralRead | JSONResponse:
    """Return the outcome or discharge summary and follow-up plan to the referrer."""
    return _step(keyed, session, principal, referral, lambda: referrals.complete(
        session, settings, principal, referral=referral, data=body, expected_version=version))


@router.post("/{referral_id}/refer-down", response_model=ReferralRead, status_code=201)
def refer_down(keyed: IdempotencyKey, referral: CurrentReferral, session: DbSession,
               settings: AppSettings, principal: Writer, body: DownReferralBody | None = None
              ) -> ReferralRead | JSONResponse:
    """After discharge, refer the patient back down carrying the follow-up plan."""
    return _made(keyed, session, principal, referral.person_id,
                 lambda: referrals.refer_down(session, settings, principal, referral=referral,
                                              data=body or DownReferralBody()))


@router.post("/{referral_id}/cancel", response_model=ReferralRead)
def cancel(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
           principal: Writer, body: ActionBody | None = None) -> ReferralRead | JSONResponse:
    """Withdraw the referral (referring side)."""
    return _step(keyed, session, principal, referral, lambda: referrals.cancel(
        session, principal, referral=referral, reason=body.reason if body else "",
        expected_version=version))


@router.post("/{referral_id}/fail", response_model=ReferralRead)
def fail(keyed: IdempotencyKey, referral: CurrentReferral, version: IfMatch, session: DbSession,
         principal: Responder, body: ActionBody) -> ReferralRead | JSONResponse:
    """The patient did not come, or the referral expired."""
    return _step(keyed, session, principal, referral, lambda: referrals.transition(
        session, principal, referral=referral, action=ReferralAction.FAIL, reason=body.reason,
        expected_version=version))


@router.post("/{referral_id}/notes", response_model=EventRead, status_code=201)
def add_note(referral: CurrentReferral, session: DbSession, principal: CurrentPrincipal,
             body: NoteBody) -> EventRead:
    """An interim note on the timeline."""
    done = referrals.add_note(session, principal, referral=referral, note=body.note)
    return EventRead.model_validate(done.event)


@router.post("/{referral_id}/clocks", response_model=ClockRead, status_code=201)
def record_clock(referral: CurrentReferral, session: DbSession, principal: CurrentPrincipal,
                 body: ClockBody) -> ClockRead:
    """A green-channel clock time (door, ECG, needle, balloon…)."""
    return ClockRead.model_validate(care.record_clock(session, principal, referral=referral,
                                                      data=body))


@router.post("/{referral_id}/documents", response_model=DocumentRead, status_code=201)
async def upload_document(referral: CurrentReferral, session: DbSession,
                          settings: AppSettings, principal: CurrentPrincipal,
                          file: UploadFile) -> DocumentRead:
    """Attach the medical record: PDF, JPEG or PNG, size-limited."""
    content = await file.read(settings.referral_document_max_bytes + 1)
    document = care.attach_document(session, settings, principal, referral=referral,
                                    filename=file.filename or "", content=content)
    return DocumentRead.model_validate(document)


@router.get("/{referral_id}/documents/{document_id}", response_class=Response)
def download_document(referral_id: Key, session: DbSession, principal: CurrentPrincipal,
                      document_id: Key) -> Response:
    """Download a document (audited: the download is the record, not a read of the
    referral besides)."""
    referral = referrals.get_or_raise(session, principal, referral_id=referral_id,
                                      audited=False)
    document = care.read_document(session, referral=referral, document_id=document_id)
    return Response(document.content, media_type=document.content_type, headers={
        "Content-Disposition": f'attachment; filename="document-{document.id}"',
        "X-Content-Type-Options": "nosniff",
    })


@beds_router.put("/departments/{department_id}/beds", response_model=list[BedCensusRead])
def publish_beds(department_id: Key, body: BedCensusUpdate, session: DbSession,
                 principal: Annotated[Principal, RequirePermission(Action.BED_CENSUS_WRITE)],
                 ) -> list[BedCensusRead]:
    """A department's free beds by ward (from its HIS, or by hand)."""
    rows = care.publish_beds(session, principal, department_id=department_id, data=body)
    return [BedCensusRead.model_validate(row) for row in rows]


@beds_router.get("/institutions/{institution_id}/beds", response_model=list[BedCensusRead])
def read_beds(institution_id: Key, session: DbSession,
              _: Annotated[Principal, RequirePermission(Action.REFERRAL_READ)],
              ) -> list[BedCensusRead]:
    """Free beds of an institution's departments, by ward."""
    return [BedCensusRead.model_validate(row)
            for row in care.bed_census(session, institution_id=institution_id)]
