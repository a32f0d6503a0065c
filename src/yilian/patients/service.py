"""Patient index rules: register and update source records and link them to people.

No HTTP here. Functions flush, never commit: the request, CLI command or HL7 message owns
the transaction, so a record, its link and its review items land together or not at all.
Merging, unmerging and review decisions live in merging.py; who may see whom in access.py,
whose names this module re-exports so callers have one front door.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, Scope, scope_of
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, PermissionDenied
from yilian.patients import matching, resident_id
from yilian.patients.access import (
    PersonFilter,
    audit_search,
    can_view,
    current_person,
    get_person_or_raise,
    get_record_by_local_id,
    get_record_or_raise,
    lineage_ids,
    list_persons,
    list_shares,
    mask_phone,
    masked_phone,
    revoke_share,
    searchable_people,
    share_person,
    visible_person_ids,
    visible_records,
)
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
    Person,
    PersonStatus,
    RecordFlag,
    ReviewStatus,
    Sex,
)
from yilian.patients.schemas import RecordCreate, RecordFields, RecordUpdate
from yilian.registry import service as registry

__all__ = [
    "PersonFilter",
    "Registration",
    "audit_search",
    "can_view",
    "current_person",
    "get_person_or_raise",
    "get_record_by_local_id",
    "get_record_or_raise",
    "lineage_ids",
    "list_persons",
    "list_shares",
    "mask_phone",
    "masked_phone",
    "person_holding_id",
    "register_record",
    "revoke_share",
    "searchable_people",
    "share_person",
    "update_record",
    "visible_person_ids",
    "visible_records",
]


@dataclass
class Registration:
    """What registering or updating a record did."""

    record: PatientRecord
    person: Person
    outcome: LinkMethod
    match_probability: float | None
    reviews: list[LinkReview] = field(default_factory=list)


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


def person_holding_id(session: Session, *, id_hashes: Collection[str]) -> Person | None:
    """The person holding the resident ID with these keyed hashes (at most one does): every
    hash it may be stored under while keys rotate (``matching.id_hashes``)."""
    if not id_hashes:
        return None
    return session.scalar(
        select(Person)
        .where(Person.id_number_hash.in_(id_hashes), Person.status == PersonStatus.ACTIVE)
        .order_by(Person.id)
    )


def _features(record: PatientRecord, settings: Settings) -> LinkFeatures:
    return matching.record_features(cipher_from_settings(settings), record)


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
    registry.check_institution_exists(session, institution_id=institution_id)
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
    if record.superseded_by_id is not None:
        survivor = session.get(PatientRecord, record.superseded_by_id)
        number = survivor.local_id if survivor else record.superseded_by_id
        raise Conflict(
            "patient_number_merged",
            f"患者号 {record.local_id} 已合并至 {number}，请使用后者",
            f"Patient number {record.local_id} was merged into {number}; use that one",
        )
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
    if _who(_features(record, settings)) == _who(before) or _still_belongs(
        session, settings, record, old_person
    ):
        _refresh_person(session, settings, old_person)
        return Registration(record, old_person, record.link_method, record.match_probability)
    # What identifies the patient changed so much the record no longer fits its person:
    # link it afresh, as if newly registered.
    return _link_new(session, settings, record, actor=_actor(session), relink_from=old_person)


def _who(features: LinkFeatures) -> LinkFeatures:
    """What says who a record is: its features without the contact details. A new phone
    number or address is not a new person, so it never unlinks a record (nor undoes the
    merge a steward decided)."""
    return replace(features, phone=None, address=None)


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
    cipher = cipher_from_settings(settings)
    held = matching.current_id_hash(cipher, record)
    if held is not None:
        sibling_ids = {matching.current_id_hash(cipher, r) for r in siblings} - {None}
        if sibling_ids - {held}:
            return False
        holder = person_holding_id(session, id_hashes=matching.record_id_hashes(cipher, record))
        if holder is not None and holder is not person:
            return False
        if held in sibling_ids:
            return True
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
        person = person_holding_id(
            session, id_hashes=matching.record_id_hashes(cipher_from_settings(settings), record)
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
    new_person = False
    if person is None:
        if relink_from is not None and len(relink_from.records) <= 1:
            person = relink_from  # a record alone keeps its person
        else:
            person = Person()
            if relink_from is None:
                # A new person's golden values are the record's own: set them now, so a
                # registration writes the person once instead of inserting then updating.
                person.name, person.sex = record.name, record.sex
                person.birth_date, person.id_number_hash = record.birth_date, record.id_number_hash
                new_person = True
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
            _refresh_person(session, settings, previous)
    if not new_person:
        _refresh_person(session, settings, person)
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


def _refresh_person(session: Session, settings: Settings, person: Person) -> None:
    """Recompute the golden values from the best record: one with a resident ID, newest.

    The person's resident ID is its records' one, as hashed under the current key (a key
    rotation may not have reached every record yet).
    """
    session.flush()
    session.refresh(person, ["records"])
    records = person.records
    if not records:
        return
    best = max(records, key=lambda r: (r.id_number_hash is not None, r.updated_at, r.id))
    person.name = best.name
    person.sex = best.sex
    person.birth_date = best.birth_date
    cipher = cipher_from_settings(settings)
    hashes = {matching.current_id_hash(cipher, r) for r in records if r.id_number_hash}
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
