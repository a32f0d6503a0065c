"""Patient index REST API: register and find patients, review possible duplicates, merge,
undo, detach, and share a patient with another institution.

Every route needs the right to read patients; writes, linking and sharing are declared with
``RequirePermission``. A person or record the user may not see is a 404, never a 403, so
the API does not tell who is registered where; the services audit every read. ID numbers
and phone numbers only ever leave masked (``110101********123X``, ``138****5678``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.patients import merging
from yilian.patients import service as patients
from yilian.patients.models import LinkReview, PatientRecord, Person, ReviewStatus
from yilian.patients.schemas import (
    DetachRequest,
    LinkEventRead,
    MergeRequest,
    PersonRead,
    PersonSummary,
    RecordCreate,
    RecordRead,
    RecordUpdate,
    RegistrationRead,
    ReviewDecision,
    ReviewDetailRead,
    ReviewRead,
    ShareCreate,
    ShareRead,
    UnmergeRequest,
)
from yilian.schemas import LARGEST_KEY, Key, Page

router = APIRouter(
    prefix="/api/v1/patients",
    tags=["patients"],
    dependencies=[RequirePermission(Action.PATIENT_READ)],
)

Offset = Annotated[int, Query(ge=0, le=LARGEST_KEY, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page (at most 200)")]
Writer = Annotated[Principal, RequirePermission(Action.PATIENT_WRITE)]
Steward = Annotated[Principal, RequirePermission(Action.PATIENT_LINK)]
Sharer = Annotated[Principal, RequirePermission(Action.PATIENT_SHARE)]


# ---------------------------------------------------------------- masked shapes


def record_read(settings: Settings, record: PatientRecord) -> RecordRead:
    """A source record as the API and pages show it: ID and phone masked."""
    shown = RecordRead.model_validate(record)
    return shown.model_copy(update={"phone_masked": patients.masked_phone(settings, record)})


def person_read(
    settings: Settings, principal: Principal, person: Person
) -> PersonRead:
    """A person with the source records the principal may see, masked."""
    records = [record_read(settings, r) for r in patients.visible_records(principal, person)]
    return PersonRead(
        id=person.id, status=person.status, merged_into_id=person.merged_into_id,
        name=person.name, sex=person.sex, birth_date=person.birth_date, records=records,
    )


def review_detail_read(settings: Settings, review: LinkReview) -> ReviewDetailRead:
    """A review item with both records, masked."""
    return ReviewDetailRead.model_validate(
        {
            **ReviewRead.model_validate(review).model_dump(),
            "record": record_read(settings, review.record),
            "candidate_record": record_read(settings, review.candidate_record),
        }
    )


def _registration_read(settings: Settings, done: patients.Registration) -> RegistrationRead:
    return RegistrationRead(
        record=record_read(settings, done.record),
        person_id=done.person.id,
        outcome=done.outcome,
        match_probability=done.match_probability,
        review_ids=[review.id for review in done.reviews],
    )


# ---------------------------------------------------------------- load-or-404 dependencies


def _current_person(
    person_id: Key, session: DbSession, principal: CurrentPrincipal
) -> Person:
    return patients.get_person_or_raise(session, principal, person_id=person_id)


def _current_record(
    record_id: Key, session: DbSession, principal: CurrentPrincipal
) -> PatientRecord:
    return patients.get_record_or_raise(session, principal, record_id=record_id)


def _current_review(review_id: Key, session: DbSession, principal: Steward) -> LinkReview:
    return merging.get_review_or_raise(session, principal, review_id=review_id)


CurrentPerson = Annotated[Person, Depends(_current_person)]
CurrentRecord = Annotated[PatientRecord, Depends(_current_record)]
CurrentReview = Annotated[LinkReview, Depends(_current_review)]


# ---------------------------------------------------------------- records


@router.post("/records", response_model=RegistrationRead, status_code=201)
def register_record(
    body: RecordCreate, session: DbSession, settings: AppSettings, principal: Writer
) -> RegistrationRead:
    """Register a patient at an institution; the record is linked to a person at once."""
    done = patients.register_record(session, settings, principal, data=body)
    return _registration_read(settings, done)


@router.get("/records/{record_id}", response_model=RecordRead)
def read_record(record: CurrentRecord, settings: AppSettings) -> RecordRead:
    """One source record (ID and phone masked)."""
    return record_read(settings, record)


@router.patch("/records/{record_id}", response_model=RegistrationRead)
def update_record(
    body: RecordUpdate,
    session: DbSession,
    settings: AppSettings,
    principal: Writer,
    record: CurrentRecord,
) -> RegistrationRead:
    """Change a source record (its own institution); relinked when its identity changed."""
    done = patients.update_record(session, settings, principal, record=record, data=body)
    return _registration_read(settings, done)


@router.post("/records/{record_id}/detach", response_model=LinkEventRead)
def detach_record(
    body: DetachRequest, session: DbSession, settings: AppSettings, principal: Steward,
    record: CurrentRecord,
) -> LinkEventRead:
    """Take a wrongly linked record out of its person into a new person of its own."""
    event = merging.detach_record(session, settings, principal, record_id=record.id,
                                  reason=body.reason)
    return LinkEventRead.model_validate(event)


# ---------------------------------------------------------------- review queue


@router.get("/reviews", response_model=Page[ReviewRead])
def list_reviews(
    session: DbSession,
    principal: Steward,
    status: ReviewStatus = ReviewStatus.OPEN,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ReviewRead]:
    """Possible duplicates the user may decide, most probable first."""
    rows, total = merging.list_reviews(
        session, principal, status=status, offset=offset, limit=limit
    )
    return Page[ReviewRead](
        items=[ReviewRead.model_validate(row) for row in rows],
        total=total, offset=offset, limit=limit,
    )


@router.get("/reviews/{review_id}", response_model=ReviewDetailRead)
def read_review(review: CurrentReview, settings: AppSettings) -> ReviewDetailRead:
    """One review item: both records side by side and the evidence of each field."""
    return review_detail_read(settings, review)


@router.post("/reviews/{review_id}/decision", response_model=ReviewRead)
def decide_review(
    body: ReviewDecision, session: DbSession, settings: AppSettings, principal: Steward,
    review: CurrentReview,
) -> ReviewRead:
    """Settle a review item: the same person (the two are merged) or different people."""
    decided = merging.decide_review(
        session, settings, principal, review=review, same_person=body.same_person,
        reason=body.reason,
    )
    return ReviewRead.model_validate(decided)


# ---------------------------------------------------------------- merges


@router.post("/merges", response_model=LinkEventRead, status_code=201)
def merge_persons(
    body: MergeRequest, session: DbSession, settings: AppSettings, principal: Steward
) -> LinkEventRead:
    """Merge one person into another; the retired person's records move to the survivor."""
    for person_id in (body.survivor_id, body.retired_id):
        patients.get_person_or_raise(session, principal, person_id=person_id,
                                     purpose="patient.merge")
    event = merging.merge_persons(
        session, settings, principal, survivor_id=body.survivor_id, retired_id=body.retired_id,
        reason=body.reason,
    )
    return LinkEventRead.model_validate(event)


@router.post("/merges/{event_id}/undo", response_model=LinkEventRead)
def undo_merge(
    event_id: Key, body: UnmergeRequest, session: DbSession, settings: AppSettings,
    principal: Steward,
) -> LinkEventRead:
    """Undo a merge: the records it moved go back to the person they came from."""
    event = merging.unmerge(session, settings, principal, merge_event_id=event_id,
                            reason=body.reason)
    return LinkEventRead.model_validate(event)


# ---------------------------------------------------------------- people


@router.get("", response_model=Page[PersonSummary])
def search_persons(
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=64, description="Name (characters or pinyin) "
                                   "or the institution's patient number")] = None,
    id_number: Annotated[str | None, Query(max_length=32, description="Resident ID")] = None,
    phone: Annotated[str | None, Query(max_length=32)] = None,
    birth_date: date | None = None,
    institution_id: Annotated[Key | None, Query(description="Has a record there")] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PersonSummary]:
    """People the user may see that match every term given, newest first."""
    where = patients.PersonFilter(
        text=(q or "").strip(), id_number=(id_number or "").strip(),
        phone=(phone or "").strip(), birth_date=birth_date, institution_id=institution_id,
    )
    rows, total = patients.list_persons(
        session, settings, principal, where=where, offset=offset, limit=limit
    )
    return Page[PersonSummary](
        items=[
            PersonSummary(
                id=person.id, name=person.name, sex=person.sex, birth_date=person.birth_date,
                record_count=len(person.records),
                institution_ids=sorted({record.institution_id for record in person.records}),
            )
            for person in rows
        ],
        total=total, offset=offset, limit=limit,
    )


@router.get("/{person_id}", response_model=PersonRead)
def read_person(
    person: CurrentPerson, settings: AppSettings, principal: CurrentPrincipal
) -> PersonRead:
    """One person: the golden values and every source record (ID and phone masked)."""
    return person_read(settings, principal, person)


@router.get("/{person_id}/history", response_model=list[LinkEventRead])
def read_history(
    person_id: Key, session: DbSession, principal: CurrentPrincipal
) -> list[LinkEventRead]:
    """Every link, review, merge, undo and detach of the person, newest first."""
    person = patients.get_person_or_raise(session, principal, person_id=person_id,
                                          purpose="patient.history.read")
    return [LinkEventRead.model_validate(event) for event in merging.history(session,
                                                                            person=person)]


@router.get("/{person_id}/shares", response_model=list[ShareRead])
def list_shares(person: CurrentPerson, session: DbSession) -> list[ShareRead]:
    """Which other institutions may see the person, why, and until when."""
    return [ShareRead.model_validate(share) for share in patients.list_shares(session,
                                                                               person=person)]


@router.post("/{person_id}/shares", response_model=ShareRead, status_code=201)
def share_person(
    body: ShareCreate, session: DbSession, principal: Sharer, person: CurrentPerson
) -> ShareRead:
    """Let another institution see the person's records (consent, referral, consultation)."""
    share = patients.share_person(session, principal, person=person, data=body)
    return ShareRead.model_validate(share)


@router.delete("/{person_id}/shares/{share_id}", response_model=ShareRead)
def revoke_share(
    share_id: Key, session: DbSession, principal: Sharer, person: CurrentPerson
) -> ShareRead:
    """End a share at once (the row stays, marked revoked)."""
    share = patients.revoke_share(session, principal, person=person, share_id=share_id)
    return ShareRead.model_validate(share)
