"""Merge, unmerge and review: how people are joined and split, always with history.

A merge moves every record of the retired person to the survivor and marks the retired
person merged (never deleted); its `LinkEvent` names the records moved, so an unmerge puts
exactly those back. Review decisions are merges or "distinct" verdicts on queue items.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, Scope, scope_of
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.patients import matching
from yilian.patients import service as patients
from yilian.patients.models import (
    LinkEvent,
    LinkEventKind,
    LinkMethod,
    LinkReview,
    PatientRecord,
    Person,
    PersonStatus,
    ReviewStatus,
)

__all__ = [
    "decide_review",
    "detach_record",
    "get_review_or_raise",
    "history",
    "list_reviews",
    "may_steward",
    "merge_persons",
    "retire_patient_number",
    "unmerge",
]


def may_steward(principal: Principal | None, *persons: Person) -> bool:
    """Whether the principal may merge, undo and detach for these people: the network's
    steward for anyone, a hospital administrator for people with records at their
    institutions. ``None`` is a trusted system caller (HL7 feed, CLI)."""
    if principal is None:
        return True
    scope = scope_of(principal, Action.PATIENT_LINK)
    if scope is Scope.NETWORK:
        return True
    return scope is Scope.OWN and all(
        any(r.institution_id in principal.institution_ids for r in person.records)
        for person in persons
    )


def _may_steward(principal: Principal | None, *persons: Person) -> None:
    """Refuse unless :func:`may_steward`."""
    if not may_steward(principal, *persons):
        raise PermissionDenied(
            "只能处理本机构有记录的患者",
            "You can only act on patients your institution has records of",
        )


def _active_or_raise(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("患者", "Patient", person_id)
    if person.status is not PersonStatus.ACTIVE:
        raise Conflict(
            "person_not_active",
            f"患者 {person_id} 已合并至 {person.merged_into_id}，请对后者操作",
            f"Patient {person_id} was merged into {person.merged_into_id}; act on that one",
        )
    return person


def merge_persons(
    session: Session,
    settings: Settings,
    principal: Principal | None,
    *,
    survivor_id: int,
    retired_id: int,
    reason: str,
) -> LinkEvent:
    """Move every record of `retired` to `survivor`; `retired` stays, marked merged."""
    if survivor_id == retired_id:
        raise InvalidInput(
            "merge_same_person", "不能与自身合并", "A person cannot merge with itself"
        )
    survivor = _active_or_raise(session, survivor_id)
    retired = _active_or_raise(session, retired_id)
    _may_steward(principal, survivor, retired)
    # A person's resident ID is its records' (see patients._refresh_person), compared under
    # the current key: a key rotation may have re-hashed one person's and not the other's.
    cipher = cipher_from_settings(settings)
    held = {matching.current_id_hash(cipher, r) for r in (*survivor.records, *retired.records)}
    if len(held - {None}) > 1:
        raise Conflict(
            "merge_id_conflict",
            "两人身份证号不同，不能合并为同一人",
            "The two people hold different resident IDs and cannot be merged",
        )
    moved = [r.id for r in retired.records]
    retired_hash = retired.id_number_hash
    retired.id_number_hash = None
    session.flush()
    for record in list(retired.records):
        record.person = survivor
        record.link_method = LinkMethod.MERGED
        record.linked_at = utcnow()
    retired.status = PersonStatus.MERGED
    retired.merged_into_id = survivor.id
    session.flush()
    if retired_hash and not survivor.id_number_hash:
        survivor.id_number_hash = retired_hash
    patients._refresh_person(session, settings, survivor)
    _supersede_reviews(session, survivor)
    event = LinkEvent(
        kind=LinkEventKind.MERGED,
        person_id=survivor.id,
        other_person_id=retired.id,
        record_ids=moved,
        actor=audit.context_of(session).actor,
        reason=reason,
    )
    session.add(event)
    session.flush()
    return event


def retire_patient_number(*, prior: PatientRecord, survivor: PatientRecord) -> None:
    """An institution merged two of its patient numbers (HL7 ADT^A40): the prior one is kept
    for history but answers no more updates; undoing the merge brings it back."""
    if prior.institution_id != survivor.institution_id:
        raise InvalidInput(
            "merge_other_institution",
            "只能合并本机构自己的两个患者号",
            "Only two patient numbers of the same institution can be merged this way",
        )
    if prior.id != survivor.id:
        prior.superseded_by_id = survivor.id


def unmerge(
    session: Session,
    settings: Settings,
    principal: Principal | None,
    *,
    merge_event_id: int,
    reason: str,
) -> LinkEvent:
    """Undo a merge: the records it moved go back to the retired person, made active again."""
    merge = session.get(LinkEvent, merge_event_id)
    if merge is None or merge.kind is not LinkEventKind.MERGED:
        raise NotFound("合并记录", "Merge", merge_event_id)
    if merge.reversed_by_id is not None:
        raise Conflict(
            "merge_already_undone",
            f"该合并已于事件 {merge.reversed_by_id} 撤销",
            f"This merge was already undone by event {merge.reversed_by_id}",
        )
    survivor = _active_or_raise(session, merge.person_id)
    retired = session.get(Person, merge.other_person_id)
    if retired is None or retired.merged_into_id != survivor.id:
        raise Conflict(
            "merge_not_reversible",
            "被合并的患者已另作处理，无法撤销",
            "The merged patient has been changed since and the merge cannot be undone",
        )
    _may_steward(principal, survivor)
    records = list(
        session.scalars(
            select(PatientRecord).where(
                PatientRecord.id.in_(merge.record_ids), PatientRecord.person_id == survivor.id
            )
        )
    )
    if not records:
        raise Conflict(
            "merge_not_reversible",
            "合并移入的记录已不在该患者名下",
            "None of the records the merge moved is with this patient any more",
        )
    survivor.id_number_hash = None
    session.flush()
    retired.status = PersonStatus.ACTIVE
    retired.merged_into_id = None
    for record in records:
        record.person = retired
        record.link_method = LinkMethod.UNMERGED
        record.linked_at = utcnow()
        record.superseded_by_id = None  # a patient number retired by the merge is back
    session.flush()
    patients._refresh_person(session, settings, retired)
    patients._refresh_person(session, settings, survivor)
    event = LinkEvent(
        kind=LinkEventKind.UNMERGED,
        person_id=survivor.id,
        other_person_id=retired.id,
        record_ids=[r.id for r in records],
        actor=audit.context_of(session).actor,
        reason=reason,
        reverses_id=merge.id,
    )
    session.add(event)
    session.flush()
    merge.reversed_by_id = event.id
    session.flush()
    return event


def detach_record(
    session: Session, settings: Settings, principal: Principal | None, *, record_id: int,
    reason: str,
) -> LinkEvent:
    """Take one wrongly linked record out of its person into a new person of its own."""
    record = session.get(PatientRecord, record_id)
    if record is None:
        raise NotFound("患者记录", "Patient record", record_id)
    person = record.person
    _may_steward(principal, person)
    if len(person.records) == 1:
        raise Conflict(
            "record_already_alone",
            "该记录是此患者唯一的记录，无需移出",
            "This is the patient's only record; there is nothing to separate it from",
        )
    # Hashes compared under the current key, or against every form the record's ID may
    # take: a key rotation may not have reached every row yet.
    cipher = cipher_from_settings(settings)
    hash_ = matching.current_id_hash(cipher, record)
    holds_it = person.id_number_hash in matching.record_id_hashes(cipher, record)
    if hash_ and holds_it and any(
        matching.current_id_hash(cipher, r) == hash_ for r in person.records if r.id != record.id
    ):
        raise Conflict(
            "detach_same_id",
            "同一身份证号的记录必须属于同一人",
            "Records with the same resident ID must stay with the same person",
        )
    if hash_ and holds_it:
        person.id_number_hash = None
        session.flush()
    new_person = Person()
    session.add(new_person)
    record.person = new_person
    record.link_method = LinkMethod.DETACHED
    record.match_probability = None
    record.linked_at = utcnow()
    session.flush()
    patients._refresh_person(session, settings, new_person)
    patients._refresh_person(session, settings, person)
    event = LinkEvent(
        kind=LinkEventKind.DETACHED,
        person_id=new_person.id,
        other_person_id=person.id,
        record_ids=[record.id],
        actor=audit.context_of(session).actor,
        reason=reason,
    )
    session.add(event)
    session.flush()
    return event


def _supersede_reviews(session: Session, person: Person) -> None:
    """Close open review items whose two records now belong to the same person."""
    ids = [r.id for r in person.records]
    for review in session.scalars(
        select(LinkReview).where(
            LinkReview.status == ReviewStatus.OPEN,
            LinkReview.record_id.in_(ids),
            LinkReview.candidate_record_id.in_(ids),
        )
    ):
        review.status = ReviewStatus.SUPERSEDED
        review.decided_at = utcnow()


# ---------------------------------------------------------------- review queue


def list_reviews(
    session: Session,
    principal: Principal,
    *,
    status: ReviewStatus | None = ReviewStatus.OPEN,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[LinkReview], int]:
    """Review items the principal may decide: those touching their institutions' records."""
    query = select(LinkReview)
    if status is not None:
        query = query.where(LinkReview.status == status)
    scope = scope_of(principal, Action.PATIENT_LINK)
    if scope is None:
        raise PermissionDenied("无权查看审核队列", "You may not see the review queue")
    if scope is Scope.OWN:
        # Only items both of whose people the administrator stewards (see may_steward):
        # deciding "same person" merges them, and the page shows both records in full.
        stewarded_people = select(PatientRecord.person_id).where(
            PatientRecord.institution_id.in_(sorted(principal.institution_ids))
        )
        stewarded = select(PatientRecord.id).where(
            PatientRecord.person_id.in_(stewarded_people)
        )
        query = query.where(
            LinkReview.record_id.in_(stewarded), LinkReview.candidate_record_id.in_(stewarded)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(
        session.scalars(
            query.order_by(LinkReview.match_probability.desc(), LinkReview.id)
            .offset(offset)
            .limit(limit)
        )
    )
    return items, total


def get_review_or_raise(session: Session, principal: Principal, *, review_id: int) -> LinkReview:
    """A review item the principal may decide, audited as a view of both patients."""
    review = session.get(LinkReview, review_id)
    if review is None:
        raise NotFound("待审核记录", "Review item", review_id)
    if not may_steward(principal, review.record.person, review.candidate_record.person):
        raise NotFound("待审核记录", "Review item", review_id)
    for record in (review.record, review.candidate_record):
        audit.record(
            session,
            action="patient.review.read",
            entity_type="link_review",
            entity_id=str(review.id),
            institution_id=record.institution_id,
            patient_id=record.person_id,
        )
    return review


def decide_review(
    session: Session, settings: Settings, principal: Principal | None, *, review: LinkReview,
    same_person: bool, reason: str,
) -> LinkReview:
    """Settle a review item: merge the two people, or record that they are different."""
    if review.status is not ReviewStatus.OPEN:
        raise Conflict(
            "review_closed",
            f"该审核项已处理（{review.status.value}）",
            f"This review item is already settled ({review.status.value})",
        )
    record_person = review.record.person
    candidate = patients.current_person(session, person_id=review.candidate_person_id)
    if same_person:
        if candidate is None or candidate.id == record_person.id:
            review.status = ReviewStatus.SUPERSEDED
        else:
            merge_persons(
                session,
                settings,
                principal,
                survivor_id=candidate.id,
                retired_id=record_person.id,
                reason=reason or f"review #{review.id}",
            )
            review.status = ReviewStatus.MERGED
    else:
        _may_steward(principal, record_person)
        review.status = ReviewStatus.DISTINCT
        session.add(
            LinkEvent(
                kind=LinkEventKind.REVIEW_DISTINCT,
                person_id=record_person.id,
                other_person_id=review.candidate_person_id,
                record_ids=[review.record_id, review.candidate_record_id],
                match_probability=review.match_probability,
                actor=audit.context_of(session).actor,
                reason=reason,
            )
        )
    review.decided_at = utcnow()
    review.decided_by = audit.context_of(session).actor
    review.decision_reason = reason
    session.flush()
    return review


def history(session: Session, *, person: Person) -> Sequence[LinkEvent]:
    """Every link event of the person and of those merged into it, newest first."""
    ids = patients.lineage_ids(session, person)
    return list(
        session.scalars(
            select(LinkEvent)
            .where(or_(LinkEvent.person_id.in_(ids), LinkEvent.other_person_id.in_(ids)))
            .order_by(LinkEvent.created_at.desc(), LinkEvent.id.desc())
        )
    )

