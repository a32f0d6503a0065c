"""Who may see whom in the patient index: visibility, reads, search, masking and sharing.

A user sees the people with a record at one of their institutions (and the campuses they
run), plus those shared with one of them; network roles see everyone. Every read and search
is audited. A person someone may not see is "not found", so the index does not tell who is
registered where. The names here are re-exported by service.py, the capability's front.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Select,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased, selectinload

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.patients import matching
from yilian.patients.features import name_pinyin, normalise_name
from yilian.patients.models import PatientRecord, PatientShare, Person, PersonStatus
from yilian.patients.schemas import ShareCreate
from yilian.registry import service as registry

# ---------------------------------------------------------------- access


def visible_person_ids(principal: Principal) -> Select[Any] | None:
    """Ids of the people the principal may see, or None for the whole index."""
    scope = scope_of(principal, Action.PATIENT_READ)
    if scope is None:
        return select(Person.id).where(false())
    if scope is Scope.NETWORK:
        return None
    institutions = sorted(principal.institution_ids)
    own = select(PatientRecord.person_id).where(PatientRecord.institution_id.in_(institutions))
    shared = _shared_people(institutions)
    return select(own.union(select(shared.c.id)).subquery().c[0])


def _shared_people(institutions: list[int]) -> CTE:
    """The people shared with the institutions and not revoked or expired."""
    now = utcnow()
    shared = (
        select(PatientShare.person_id.label("id"))
        .where(
            PatientShare.institution_id.in_(institutions),
            PatientShare.revoked_at.is_(None),
            or_(PatientShare.expires_at.is_(None), PatientShare.expires_at > now),
        )
        .cte("shared_person", recursive=True)
    )
    # A share follows the person's records through merges: to the survivor, and on.
    survivor = aliased(Person)
    return shared.union(
        select(survivor.merged_into_id)
        .join(shared, survivor.id == shared.c.id)
        .where(survivor.merged_into_id.is_not(None))
    )


def may_see_person(principal: Principal) -> ColumnElement[bool] | None:
    """Whether the principal may see a row of ``person`` (None: every one).

    The same people as :func:`visible_person_ids`, asked per person: a record of theirs
    at one of the reader's institutions (an index probe on ``patient_record.person_id``),
    or a share. A search by resident ID or phone then reads the one person it finds, not
    every record of the reader's hospital first (the cost grew with the hospital).
    """
    scope = scope_of(principal, Action.PATIENT_READ)
    if scope is None:
        return false()
    if scope is Scope.NETWORK:
        return None
    institutions = sorted(principal.institution_ids)
    own = exists().where(PatientRecord.person_id == Person.id,
                         PatientRecord.institution_id.in_(institutions))
    shared = _shared_people(institutions)
    return or_(own, Person.id.in_(select(shared.c.id)))


def lineage_ids(session: Session, person: Person) -> list[int]:
    """The person and every person merged into it (whose shares and history it inherits)."""
    ids, frontier = [person.id], [person.id]
    while frontier:
        frontier = list(
            session.scalars(select(Person.id).where(Person.merged_into_id.in_(frontier)))
        )
        ids.extend(frontier)
    return ids


def can_view(session: Session, principal: Principal, person: Person) -> bool:
    """Whether the principal may see this person's records.

    The same rule as :func:`visible_person_ids`, asked about one person: a record of the
    person's lineage at one of the principal's institutions, or a live share of any person
    in the lineage (a share made before a merge follows the records to the survivor, and a
    person shared that way is exactly one merged into the survivor). One round trip of
    index lookups, not the whole visible set.
    """
    scope = scope_of(principal, Action.PATIENT_READ)
    if scope is None:
        return False
    if scope is Scope.NETWORK:
        return True
    survivor = current_person(session, person_id=person.id) or person
    institutions = sorted(principal.institution_ids)
    if not institutions:
        return False
    return bool(session.scalar(_CAN_VIEW, {"person_id": survivor.id, "institutions": institutions,
                                           "now": utcnow()}))


def _can_view_statement() -> Select[bool]:
    """One round trip for :func:`can_view`: the lineage (a recursive walk down the merges)
    and both ways of seeing it. Built once; only its parameters change."""
    lineage = select(Person.id).where(Person.id == bindparam("person_id")).cte(
        "lineage", recursive=True)
    lineage = lineage.union(
        select(Person.id).join(lineage, Person.merged_into_id == lineage.c.id))
    institutions: BindParameter[list[int]] = bindparam("institutions", expanding=True)
    own = exists().where(
        PatientRecord.person_id.in_(select(lineage.c.id)),
        PatientRecord.institution_id.in_(institutions),
    )
    shared = exists().where(
        PatientShare.person_id.in_(select(lineage.c.id)),
        PatientShare.institution_id.in_(institutions),
        PatientShare.revoked_at.is_(None),
        or_(PatientShare.expires_at.is_(None), PatientShare.expires_at > bindparam("now")),
    )
    return select(or_(own, shared))


_CAN_VIEW = _can_view_statement()


def current_person(session: Session, *, person_id: int) -> Person | None:
    """The person now holding this id's records: follows merges to the survivor."""
    person = session.get(Person, person_id)
    seen: set[int] = set()
    while person is not None and person.merged_into_id is not None and person.id not in seen:
        seen.add(person.id)
        person = session.get(Person, person.merged_into_id)
    return person


def get_person_or_raise(
    session: Session, principal: Principal, *, person_id: int, purpose: str = "patient.read"
) -> Person:
    """A person the principal may see (404 otherwise, so existence does not leak); audited."""
    person = session.get(Person, person_id)
    if person is None or not can_view(session, principal, person):
        raise NotFound("患者", "Patient", person_id)
    audit.record(
        session,
        action=purpose,
        entity_type="person",
        entity_id=str(person.id),
        institution_id=principal.institution_id,
        patient_id=person.id,
    )
    return person


def visible_records(principal: Principal, person: Person) -> list[PatientRecord]:
    """The person's source records the principal may read in full.

    Every record of a person the principal may see is shown: sharing a person shares the
    person's records across the network, which is what sharing is for.
    """
    return list(person.records)


def mask_phone(number: str) -> str:
    """A phone number for display: the last four digits, and a mobile's first three
    (``138****5678``). The API, the pages and FHIR all show numbers this way."""
    head = 3 if len(number) == 11 else 0
    hidden = max(len(number) - head - 4, 0)
    return number[:head] + "*" * hidden + number[head + hidden :]


def masked_phone(settings: Settings, record: PatientRecord) -> str:
    """The record's phone number, decrypted only to be masked."""
    if not record.phone_cipher:
        return ""
    phone = cipher_from_settings(settings).decrypt(matching.PHONE_FIELD, record.phone_cipher)
    return mask_phone(phone)


def get_record_or_raise(session: Session, principal: Principal, *, record_id: int) -> PatientRecord:
    """A source record whose person the principal may see (404 otherwise); audited."""
    record = session.get(PatientRecord, record_id)
    if record is None or not can_view(session, principal, record.person):
        raise NotFound("患者记录", "Patient record", record_id)
    audit.record(
        session,
        action="patient.record.read",
        entity_type="patient_record",
        entity_id=str(record.id),
        institution_id=record.institution_id,
        patient_id=record.person_id,
    )
    return record


def get_record_by_local_id(
    session: Session, *, institution_id: int, local_id: str
) -> PatientRecord | None:
    """The record an institution keeps under its own patient number, if any."""
    return session.scalar(
        select(PatientRecord).where(
            PatientRecord.institution_id == institution_id, PatientRecord.local_id == local_id
        )
    )


@dataclass(frozen=True)
class PersonFilter:
    """Search terms for people: any combination narrows the result."""

    text: str = ""  # name in characters or pinyin, or a local patient number
    id_number: str = ""
    phone: str = ""
    birth_date: date | None = None
    institution_id: int | None = None


def list_persons(
    session: Session,
    settings: Settings,
    principal: Principal,
    *,
    where: PersonFilter,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Person], int]:
    """People the principal may see that match the filter, with the total; audited."""
    cipher = cipher_from_settings(settings)
    query = searchable_people(principal)
    record_terms: list[Any] = []
    if where.text:
        text = normalise_name(where.text) or where.text
        _, pinyin = name_pinyin(text)
        record_terms.append(
            or_(
                PatientRecord.name == text,
                PatientRecord.local_id == where.text,
                PatientRecord.name_py == pinyin if pinyin else false(),
            )
        )
    if where.id_number:
        wanted_ids = matching.id_hashes(cipher, where.id_number)
        record_terms.append(PatientRecord.id_number_hash.in_(wanted_ids))
    if where.phone:
        wanted_phones = matching.phone_hashes(cipher, where.phone)
        record_terms.append(PatientRecord.phone_hash.in_(wanted_phones))
    if where.birth_date:
        record_terms.append(PatientRecord.birth_date == where.birth_date)
    if where.institution_id:
        record_terms.append(PatientRecord.institution_id == where.institution_id)
    for term in record_terms:
        query = query.where(Person.id.in_(select(PatientRecord.person_id).where(term)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    people = list(
        session.scalars(
            query.options(selectinload(Person.records))
            .order_by(Person.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    audit_search(session, principal, people, total=total)
    return people, total


def searchable_people(principal: Principal) -> Select[Person]:
    """People in use that the principal may see: what every patient search starts from."""
    query = select(Person).where(Person.status == PersonStatus.ACTIVE)
    visible = may_see_person(principal)
    return query if visible is None else query.where(visible)


def audit_search(
    session: Session, principal: Principal, people: Sequence[Person], *, total: int
) -> None:
    """Record a search of patients: who searched, and which people it returned."""
    audit.record(
        session,
        action="patient.search",
        entity_type="person",
        institution_id=principal.institution_id,
        detail={"returned": [p.id for p in people], "total": total},
    )


# ---------------------------------------------------------------- sharing


def share_person(
    session: Session, principal: Principal | None, *, person: Person, data: ShareCreate
) -> PatientShare:
    """Let another institution see a person's records, for a reason (consent, referral…).

    Only an institution holding the person's records shares them: one that sees the person
    through a share of its own cannot pass them on.
    """
    if principal is not None:
        authorize(principal, Action.PATIENT_SHARE)
        if not can_view(session, principal, person):
            raise NotFound("患者", "Patient", person.id)
        holders = {record.institution_id for record in person.records}
        if scope_of(principal, Action.PATIENT_SHARE) is Scope.OWN and not (
            holders & principal.institution_ids
        ):
            raise PermissionDenied(
                "只有登记了该患者的机构才能授权他人查看",
                "Only an institution that registered this patient can share them",
            )
    if person.status is not PersonStatus.ACTIVE:
        raise Conflict(
            "person_not_active",
            f"患者 {person.id} 已合并至 {person.merged_into_id}，请对后者操作",
            f"Patient {person.id} was merged into {person.merged_into_id}; act on that one",
        )
    registry.check_institution_exists(session, institution_id=data.institution_id)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise InvalidInput(
            "share_expired", "授权截止时间已过", "The sharing would already have expired"
        )
    share = PatientShare(
        person_id=person.id,
        institution_id=data.institution_id,
        reason=data.reason,
        source_ref=data.source_ref,
        granted_by=audit.context_of(session).actor,
        expires_at=data.expires_at,
    )
    session.add(share)
    session.flush()
    return share


def list_shares(session: Session, *, person: Person) -> list[PatientShare]:
    """Every share of the person and of those merged into it, newest first."""
    return list(
        session.scalars(
            select(PatientShare)
            .where(PatientShare.person_id.in_(lineage_ids(session, person)))
            .order_by(PatientShare.granted_at.desc(), PatientShare.id.desc())
        )
    )


def revoke_share(
    session: Session, principal: Principal | None, *, person: Person, share_id: int
) -> PatientShare:
    """End a share at once; the row stays, with the time it was revoked."""
    if principal is not None:
        authorize(principal, Action.PATIENT_SHARE)
        if not can_view(session, principal, person):
            raise NotFound("患者", "Patient", person.id)
    share = session.get(PatientShare, share_id)
    if share is None or (share.person_id != person.id
                         and share.person_id not in lineage_ids(session, person)):
        raise NotFound("授权", "Share", share_id)
    if share.revoked_at is not None:
        raise Conflict("share_revoked", "该授权已撤销", "This share was already revoked")
    if (
        principal is not None
        and scope_of(principal, Action.PATIENT_SHARE) is Scope.OWN
        and not ({record.institution_id for record in person.records}
                 | {share.institution_id}) & principal.institution_ids
    ):
        raise PermissionDenied(
            "只有登记了该患者的机构或被授权机构才能撤销授权",
            "Only an institution that registered this patient, or the one it was shared "
            "with, can revoke the share",
        )
    share.revoked_at = utcnow()
    session.flush()
    return share


def records_by_local_id(
    session: Session, *, institution_id: int, local_ids: Iterable[str]
) -> dict[str, PatientRecord]:
    """An institution's records under many of its patient numbers at once (bulk imports)."""
    wanted = sorted(set(local_ids))
    found: dict[str, PatientRecord] = {}
    for start in range(0, len(wanted), 1000):  # keep each IN list within driver limits
        chunk = wanted[start:start + 1000]
        found.update((record.local_id, record) for record in session.scalars(
            select(PatientRecord).where(PatientRecord.institution_id == institution_id,
                                        PatientRecord.local_id.in_(chunk))))
    return found
