"""Patient index rules: register and update source records, link them to people, and
decide who may see whom.

No HTTP here. Functions flush, never commit: the request, CLI command or HL7 message owns
the transaction, so a record, its link and its review items land together or not at all.
Merging, unmerging and review decisions live in merging.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, exists, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yilian.patients import matching, resident_id
from yilian.patients.features import (
    LinkFeatures,
    address_key,
    name_pinyin,
    normalise_name,
    normalise_phone,
)
from yilian.patients.models import (
    LinkEvent,
    LinkEventKind,
    LinkMethod,
    LinkReview,
    PatientRecord,
    PatientShare,
    Person,
    PersonStatus,
    RecordFlag,
    ReviewStatus,
    Sex,
)
from yilian.patients.schemas import RecordCreate, RecordFields, RecordUpdate, ShareCreate
from yilian.registry import service as registry

__all__ = [
    "PersonFilter",
    "Registration",
    "current_person",
    "get_person_or_raise",
    "get_record_by_local_id",
    "get_record_or_raise",
    "list_persons",
    "list_shares",
    "register_record",
    "revoke_share",
    "share_person",
    "update_record",
    "visible_person_ids",
]


@dataclass
class Registration:
    """What registering or updating a record did."""

    record: PatientRecord
    person: Person
    outcome: LinkMethod
    match_probability: float | None
    reviews: list[LinkReview] = field(default_factory=list)


# ---------------------------------------------------------------- access


def visible_person_ids(principal: Principal) -> Select[Any] | None:
    """Ids of the people the principal may see, or None for the whole index."""
    scope = scope_of(principal, Action.PATIENT_READ)
    if scope is None:
        return select(Person.id).where(false())
    if scope is Scope.NETWORK:
        return None
    institutions = sorted(principal.institution_ids)
    now = utcnow()
    own = select(PatientRecord.person_id).where(PatientRecord.institution_id.in_(institutions))
    shared = select(PatientShare.person_id).where(
        PatientShare.institution_id.in_(institutions),
        PatientShare.revoked_at.is_(None),
        or_(PatientShare.expires_at.is_(None), PatientShare.expires_at > now),
    )
    return select(own.union(shared).subquery().c[0])


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
    """Whether the principal may see this person's records."""
    visible = visible_person_ids(principal)
    if visible is None:
        return True
    ids = lineage_ids(session, current_person(session, person_id=person.id) or person)
    subquery = visible.subquery()
    return bool(session.scalar(select(exists().where(subquery.c[0].in_(ids)))))


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
    query = select(Person).where(Person.status == PersonStatus.ACTIVE)
    visible = visible_person_ids(principal)
    if visible is not None:
        query = query.where(Person.id.in_(visible))
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
        wanted_id = matching.id_hash(cipher, where.id_number)
        record_terms.append(PatientRecord.id_number_hash == wanted_id)
    if where.phone:
        record_terms.append(PatientRecord.phone_hash == matching.phone_hash(cipher, where.phone))
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
    audit.record(
        session,
        action="patient.search",
        entity_type="person",
        institution_id=principal.institution_id,
        detail={"returned": [p.id for p in people], "total": total},
    )
    return people, total


# ---------------------------------------------------------------- sharing


def share_person(
    session: Session, principal: Principal | None, *, person: Person, data: ShareCreate
) -> PatientShare:
    """Let another institution see a person's records, for a reason (consent, referral…)."""
    if principal is not None:
        authorize(principal, Action.PATIENT_SHARE)
        if not can_view(session, principal, person):
            raise NotFound("患者", "Patient", person.id)
    if person.status is not PersonStatus.ACTIVE:
        raise Conflict(
            "person_not_active",
            f"患者 {person.id} 已合并至 {person.merged_into_id}，请对后者操作",
            f"Patient {person.id} was merged into {person.merged_into_id}; act on that one",
        )
    registry.get_institution_or_raise(session, institution_id=data.institution_id)
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise InvalidInput(
            "share_expired", "授权截止时间已过", "The sharing would already have expired"
        )
    share = PatientShare(
        person_id=person.id,
        institution_id=data.institution_id,
        reason=data.reason,
        source_ref=data.source_ref,
        granted_by=_actor(session),
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
    if share is None or share.person_id not in lineage_ids(session, person):
        raise NotFound("授权", "Share", share_id)
    if share.revoked_at is not None:
        raise Conflict("share_revoked", "该授权已撤销", "This share was already revoked")
    share.revoked_at = utcnow()
    session.flush()
    return share


# ---------------------------------------------------------------- registration


@dataclass(frozen=True)
class _Checked:
    """A record's fields after validation: the parsed ID and what it flags."""

    resident: resident_id.ResidentId | None
    flags: list[str]


def _check(data: RecordFields) -> _Checked:
    resident = resident_id.parse(data.id_number) if data.id_number else None
    flags: list[str] = []
    if resident is not None:
        sex = data.sex.value if data.sex in (Sex.MALE, Sex.FEMALE) else None
        flags = [
            RecordFlag(flag.value).value
            for flag in resident_id.mismatches(resident, birth_date=data.birth_date, sex=sex)
        ]
        if resident.legacy:
            flags.append(RecordFlag.LEGACY_ID.value)
    if not data.name and not resident and not data.phone:
        raise InvalidInput(
            "patient_unidentifiable",
            "患者信息不足：姓名、身份证号、手机号至少填写一项",
            "Not enough to identify the patient: give a name, a resident ID or a phone number",
        )
    return _Checked(resident, flags)


def _write_fields(
    record: PatientRecord, data: RecordFields, checked: _Checked, settings: Settings
) -> None:
    cipher = cipher_from_settings(settings)
    record.name = normalise_name(data.name) or ""
    record.sex = data.sex
    resident = checked.resident
    record.birth_date = data.birth_date or (resident.birth_date if resident else None)
    if checked.resident is not None:
        number = checked.resident.number
        record.id_number_cipher = cipher.encrypt(matching.ID_FIELD, number)
        record.id_number_hash = cipher.blind_index(matching.ID_FIELD, number)
        record.id_number_masked = resident_id.mask(number)
    else:
        record.id_number_cipher = record.id_number_hash = None
        record.id_number_masked = ""
    phone = normalise_phone(data.phone)
    record.phone_cipher = cipher.encrypt(matching.PHONE_FIELD, phone) if phone else None
    record.phone_hash = cipher.blind_index(matching.PHONE_FIELD, phone) if phone else None
    record.address = data.address or ""
    record.insured_region_code = data.insured_region_code
    record.insurance_scheme = data.insurance_scheme
    record.flags = checked.flags
    surname_py, full_py = name_pinyin(record.name) if record.name else ("", "")
    record.name_py = full_py or None
    record.surname_py = surname_py or None
    record.address_key = address_key(record.address)


def _features(record: PatientRecord, settings: Settings) -> LinkFeatures:
    cipher = cipher_from_settings(settings)
    phone = (
        cipher.decrypt(matching.PHONE_FIELD, record.phone_cipher) if record.phone_cipher else None
    )
    return matching.features_of(
        name=record.name,
        sex=record.sex.value,
        birth_date=record.birth_date,
        phone=phone,
        address=record.address,
        id_hash=record.id_number_hash,
    )


def register_record(
    session: Session, settings: Settings, principal: Principal | None, *, data: RecordCreate
) -> Registration:
    """Register a patient at an institution and link the record to a person at once.

    ``principal`` None means a trusted system caller (HL7 feed, CLI) acting for the
    institution named in ``data``.
    """
    institution_id = data.institution_id or (principal.institution_id if principal else None)
    if institution_id is None:
        raise InvalidInput(
            "institution_required", "请指定登记机构", "Say which institution registers the patient"
        )
    registry.get_institution_or_raise(session, institution_id=institution_id)
    _authorize_write(principal, institution_id)
    if get_record_by_local_id(session, institution_id=institution_id, local_id=data.local_id):
        raise Conflict(
            "patient_record_exists",
            f"本机构已有该患者号：{data.local_id}",
            f"This institution already has patient number {data.local_id}",
        )
    checked = _check(data)
    record = PatientRecord(institution_id=institution_id, local_id=data.local_id)
    _write_fields(record, data, checked, settings)
    return _link_new(session, settings, record, actor=_actor(session))


def update_record(
    session: Session,
    settings: Settings,
    principal: Principal | None,
    *,
    record: PatientRecord,
    data: RecordUpdate,
) -> Registration:
    """Change a source record; relink it when what identifies the patient changed (ADT^A08)."""
    _authorize_write(principal, record.institution_id)
    changes = data.model_dump(exclude_unset=True)
    # Clearing a text field leaves it empty and clearing the sex leaves it unknown.
    changes.update({k: "" for k in ("name", "address") if k in changes and changes[k] is None})
    if "sex" in changes and changes["sex"] is None:
        changes["sex"] = Sex.UNKNOWN
    before = _features(record, settings)
    merged = RecordFields.model_validate(
        {**_current_fields(record, settings).model_dump(), **changes}
    )
    checked = _check(merged)
    old_person = record.person
    _write_fields(record, merged, checked, settings)
    session.flush()
    if _features(record, settings) == before or _still_belongs(
        session, settings, record, old_person
    ):
        _refresh_person(session, old_person)
        return Registration(record, old_person, record.link_method, record.match_probability)
    # What identifies the patient changed so much the record no longer fits its person:
    # link it afresh, as if newly registered.
    return _link_new(session, settings, record, actor=_actor(session), relink_from=old_person)


def _authorize_write(principal: Principal | None, institution_id: int) -> None:
    """Staff write records only at institutions in their reach (system callers anywhere)."""
    if principal is None:
        return
    scope = scope_of(principal, Action.PATIENT_WRITE)
    if scope is Scope.NETWORK:
        return
    if scope is None or institution_id not in principal.institution_ids:
        raise PermissionDenied(
            "只能登记或修改本机构的患者记录",
            "You can only register or change your own institution's patient records",
        )


def _still_belongs(
    session: Session, settings: Settings, record: PatientRecord, person: Person
) -> bool:
    """Whether a changed record still fits the other records of its person.

    It does when it shares a resident ID with one of them, or the model still links it to
    one of them; never when it now holds an ID that another record or person holds.
    """
    siblings = [r for r in person.records if r.id != record.id]
    if not siblings:
        return False
    if record.id_number_hash is not None:
        if any(r.id_number_hash not in (None, record.id_number_hash) for r in siblings):
            return False
        holder = session.scalar(
            select(Person.id).where(Person.id_number_hash == record.id_number_hash)
        )
        if holder is not None and holder != person.id:
            return False
        if any(r.id_number_hash == record.id_number_hash for r in siblings):
            return True
    cipher = cipher_from_settings(settings)
    scores = matching.score_records(
        settings,
        _features(record, settings),
        [matching.candidate_row(cipher, sibling) for sibling in siblings],
    )
    return any(score.match_probability >= settings.empi_link_threshold for score in scores)


def _current_fields(record: PatientRecord, settings: Settings) -> RecordFields:
    cipher = cipher_from_settings(settings)
    return RecordFields.model_construct(
        name=record.name,
        sex=record.sex,
        birth_date=record.birth_date,
        id_number=cipher.decrypt(matching.ID_FIELD, record.id_number_cipher)
        if record.id_number_cipher
        else None,
        phone=cipher.decrypt(matching.PHONE_FIELD, record.phone_cipher)
        if record.phone_cipher
        else None,
        address=record.address,
        insured_region_code=record.insured_region_code,
        insurance_scheme=record.insurance_scheme,
    )


def _actor(session: Session) -> str:
    return audit.context_of(session).actor


def _link_new(
    session: Session,
    settings: Settings,
    record: PatientRecord,
    *,
    actor: str,
    relink_from: Person | None = None,
) -> Registration:
    """Link a record: same valid ID → that person; else the model decides (see matching)."""
    features = _features(record, settings)
    person: Person | None = None
    method, probability = LinkMethod.NEW_PERSON, None
    if record.id_number_hash:
        person = session.scalar(
            select(Person).where(
                Person.id_number_hash == record.id_number_hash,
                Person.status == PersonStatus.ACTIVE,
            )
        )
        if person is not None and person is not relink_from:
            method, probability = LinkMethod.RESIDENT_ID, 1.0
        else:
            person = None
    matches: list[matching.PersonMatch] = []
    if person is None:
        matches = matching.find_matches(
            session,
            settings,
            features,
            exclude_record_id=record.id,
            exclude_person_id=relink_from.id if relink_from else None,
        )
        best = matches[0] if matches else None
        if best is not None and best.score.match_probability >= settings.empi_link_threshold:
            person = best.person
            method, probability = LinkMethod.PROBABILISTIC, best.score.match_probability
    if person is None:
        if relink_from is not None and len(relink_from.records) <= 1:
            person = relink_from  # a record alone keeps its person
        else:
            person = Person()
            session.add(person)
    previous = record.person if record.person_id is not None else None
    moved_from = previous.id if previous is not None and previous is not person else None
    record.person = person
    record.link_method = method
    record.match_probability = probability
    record.linked_at = utcnow()
    session.add(record)
    session.flush()
    session.add(
        LinkEvent(
            kind=LinkEventKind.LINKED if relink_from is None else LinkEventKind.RELINKED,
            person_id=person.id,
            other_person_id=moved_from,
            record_ids=[record.id],
            match_probability=probability,
            actor=actor,
            reason=method.value,
        )
    )
    if previous is not None and previous is not person:
        # The person it left gives up the record's ID before the new one takes it.
        _retire_if_empty(session, previous, into=person)
        if previous.status is PersonStatus.ACTIVE:
            _refresh_person(session, previous)
    _refresh_person(session, person)
    reviews = _open_reviews(session, settings, record, person, matches)
    return Registration(record, person, method, probability, reviews)


def _open_reviews(
    session: Session,
    settings: Settings,
    record: PatientRecord,
    person: Person,
    matches: Sequence[matching.PersonMatch],
) -> list[LinkReview]:
    """Queue the candidates scoring between the thresholds that the record did not join."""
    reviews = []
    for match in matches[:3]:
        probability = match.score.match_probability
        if match.person.id == person.id or probability < settings.empi_review_threshold:
            continue
        review = LinkReview(
            record_id=record.id,
            candidate_record_id=match.record.id,
            candidate_person_id=match.person.id,
            match_probability=probability,
            match_weight=match.score.match_weight,
            evidence=[
                {
                    "comparison": e.comparison,
                    "level": e.level,
                    "label": e.label,
                    "match_weight": e.match_weight,
                }
                for e in match.score.evidence
            ],
        )
        session.add(review)
        reviews.append(review)
    if reviews:
        session.flush()
        session.add(
            LinkEvent(
                kind=LinkEventKind.REVIEW_OPENED,
                person_id=person.id,
                other_person_id=reviews[0].candidate_person_id,
                record_ids=[record.id],
                match_probability=reviews[0].match_probability,
                actor=_actor(session),
                reason=f"review #{reviews[0].id}",
            )
        )
    return reviews


def _retire_if_empty(session: Session, person: Person, *, into: Person) -> None:
    session.refresh(person, ["records"])
    if not person.records:
        person.status = PersonStatus.MERGED
        person.merged_into_id = into.id
        person.id_number_hash = None
        for review in session.scalars(
            select(LinkReview).where(
                LinkReview.candidate_person_id == person.id, LinkReview.status == ReviewStatus.OPEN
            )
        ):
            review.status = ReviewStatus.SUPERSEDED


def _refresh_person(session: Session, person: Person) -> None:
    """Recompute the golden values from the best record: one with a resident ID, newest."""
    session.flush()
    session.refresh(person, ["records"])
    records = person.records
    if not records:
        return
    best = max(records, key=lambda r: (r.id_number_hash is not None, r.updated_at, r.id))
    person.name = best.name
    person.sex = best.sex
    person.birth_date = best.birth_date
    hashes = {r.id_number_hash for r in records if r.id_number_hash}
    if len(hashes) > 1:
        raise Conflict(
            "person_id_conflict",
            "同一人员不能有两个不同的身份证号",
            "One person cannot hold two different resident IDs",
        )
    wanted = next(iter(hashes), None)
    if person.id_number_hash != wanted:
        person.id_number_hash = wanted
    session.flush()
