"""Find the people an incoming record may be: candidates from the database, scored by Splink.

Candidates come from the same blocking rules the batch command uses (model.BLOCKING_RULES),
run as indexed SQL against the stored records, so the online path, `Patient/$match` and
the batch command consider the same pairs and score them with the same trained model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, select, union_all
from sqlalchemy.orm import Session

from yilian.config import Settings
from yilian.crypto import FieldCipher, cipher_from_settings
from yilian.patients import resident_id
from yilian.patients.features import LinkFeatures, link_features, normalise_phone
from yilian.patients.linkage import DEFAULT_MODEL_PATH, PairScore, scorer_for
from yilian.patients.models import PatientRecord, Person, PersonStatus

__all__ = [
    "ID_FIELD",
    "PHONE_FIELD",
    "Candidate",
    "MatchGrade",
    "PersonMatch",
    "candidate_row",
    "current_id_hash",
    "features_of",
    "find_matches",
    "grade",
    "id_hash",
    "id_hashes",
    "phone_hashes",
    "record_features",
    "record_id_hashes",
    "score_records",
]

ID_FIELD = "patient_record.id_number"
PHONE_FIELD = "patient_record.phone"


class MatchGrade:
    """FHIR match-grade codes for a score, judged against the configured thresholds."""

    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"
    CERTAINLY_NOT = "certainly-not"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored record the blocking rules found, with the person it belongs to."""

    record: PatientRecord
    person: Person


@dataclass(frozen=True, slots=True)
class PersonMatch:
    """The best-scoring record of one candidate person."""

    person: Person
    record: PatientRecord
    score: PairScore


def grade(probability: float, settings: Settings) -> str:
    """The FHIR match grade of a model's probability under this deployment's thresholds.

    A model never answers ``certain``, however close to 1 it scores: that grade is for an
    exact resident ID or patient number, which the caller establishes itself.
    """
    if probability >= settings.empi_link_threshold:
        return MatchGrade.PROBABLE
    if probability >= settings.empi_review_threshold:
        return MatchGrade.POSSIBLE
    return MatchGrade.CERTAINLY_NOT


def features_of(
    *,
    name: str | None,
    sex: str | None,
    birth_date: date | None,
    phone: str | None,
    address: str | None,
    id_hash: str | None,
) -> LinkFeatures:
    """Features of a record as the online path sees it: the ID is its keyed hash."""
    return link_features(
        name=name,
        sex=sex,
        birth_date=birth_date,
        phone=phone,
        address=address,
        id_key=id_hash,
    )


def id_hash(cipher: FieldCipher, id_number: str | None) -> str | None:
    """The keyed hash of a valid resident ID's 18-digit form (None without one)."""
    if not id_number:
        return None
    return cipher.blind_index(ID_FIELD, resident_id.parse(id_number).number)


def id_hashes(cipher: FieldCipher, id_number: str | None) -> tuple[str, ...]:
    """Every keyed hash a valid resident ID may be stored under while keys rotate, to look
    it up with (none without one)."""
    if not id_number:
        return ()
    return cipher.blind_indexes(ID_FIELD, resident_id.parse(id_number).number)


def record_id_hashes(cipher: FieldCipher, record: PatientRecord) -> tuple[str, ...]:
    """Every keyed hash the record's resident ID may be stored under (none without one)."""
    if record.id_number_cipher is None:
        return ()
    return cipher.blind_indexes(ID_FIELD, cipher.decrypt(ID_FIELD, record.id_number_cipher))


def current_id_hash(cipher: FieldCipher, record: PatientRecord) -> str | None:
    """The record's resident-ID hash under the current key, to compare with another's: as
    stored, or made again from the decrypted number while a key rotation has not reached
    the record (hashes under two keys never compare equal)."""
    stored = record.id_number_hash
    if stored is None or record.id_number_cipher is None or (
        cipher.index_key_id(stored) == cipher.key_id
    ):
        return stored
    return cipher.blind_index(ID_FIELD, cipher.decrypt(ID_FIELD, record.id_number_cipher))


def _candidates(
    session: Session,
    features: LinkFeatures,
    *,
    phone_hashes: Sequence[str],
    limit: int,
    exclude_record_id: int | None,
) -> list[Candidate]:
    """Stored records that share a blocking key with the features (model.BLOCKING_RULES)."""
    rules = []
    born = date.fromisoformat(features.birth_date) if features.birth_date else None
    if features.name_py and born:
        month_start = born.replace(day=1)
        month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        rules.append(
            and_(
                PatientRecord.name_py == features.name_py,
                PatientRecord.birth_date.between(month_start, month_end),
            )
        )
    if features.name_py and features.birth_date_swapped:
        rules.append(
            and_(
                PatientRecord.name_py == features.name_py,
                PatientRecord.birth_date == date.fromisoformat(features.birth_date_swapped),
            )
        )
    if features.surname_py and born:
        rules.append(
            and_(PatientRecord.birth_date == born, PatientRecord.surname_py == features.surname_py)
        )
    if phone_hashes:
        rules.append(PatientRecord.phone_hash.in_(phone_hashes))
    if not rules:
        return []
    # One indexed lookup per rule, united: planners scan the whole table for an OR of them.
    # People are read by key afterwards, so no filter on person can make a planner start
    # from the person table (it would walk every person without a resident ID).
    found = union_all(*(select(PatientRecord.id).where(rule) for rule in rules)).subquery()
    query = (
        select(PatientRecord)
        .where(PatientRecord.id.in_(select(found.c[0])))
        .order_by(PatientRecord.id)
        .limit(limit)
    )
    if exclude_record_id is not None:
        query = query.where(PatientRecord.id != exclude_record_id)
    records = list(session.scalars(query))
    people = {
        person.id: person
        for person in session.scalars(
            select(Person).where(Person.id.in_({record.person_id for record in records}))
        )
    }
    return [
        Candidate(record, people[record.person_id])
        for record in records
        if people[record.person_id].status is PersonStatus.ACTIVE
        # Two valid IDs decide for themselves; only people without one are candidates.
        and not (features.id_key and people[record.person_id].id_number_hash)
    ]


def record_features(cipher: FieldCipher, record: PatientRecord) -> LinkFeatures:
    """A stored record's features (its phone decrypted for comparison)."""
    phone = cipher.decrypt(PHONE_FIELD, record.phone_cipher) if record.phone_cipher else None
    return features_of(
        name=record.name,
        sex=record.sex.value,
        birth_date=record.birth_date,
        phone=phone,
        address=record.address,
        id_hash=current_id_hash(cipher, record),
    )


def candidate_row(cipher: FieldCipher, record: PatientRecord) -> dict[str, str | None]:
    """A stored record as the model's input row."""
    return record_features(cipher, record).as_row(str(record.id))


def phone_hashes(cipher: FieldCipher, phone: str | None) -> tuple[str, ...]:
    """Every keyed hash a phone number may be stored under while keys rotate, to look it up
    with (none without one)."""
    digits = normalise_phone(phone)
    return cipher.blind_indexes(PHONE_FIELD, digits) if digits else ()


def find_matches(
    session: Session,
    settings: Settings,
    features: LinkFeatures,
    *,
    exclude_record_id: int | None = None,
    exclude_person_id: int | None = None,
) -> list[PersonMatch]:
    """Candidate people for the features, each with its best-scoring record, best first."""
    cipher = cipher_from_settings(settings)
    found = _candidates(
        session,
        features,
        phone_hashes=cipher.blind_indexes(PHONE_FIELD, features.phone) if features.phone else (),
        limit=settings.empi_max_candidates,
        exclude_record_id=exclude_record_id,
    )
    found = [c for c in found if c.person.id != exclude_person_id]
    if not found:
        return []
    by_id = {str(c.record.id): c for c in found}
    scores = score_records(
        settings, features, [candidate_row(cipher, c.record) for c in found]
    )
    best: dict[int, PersonMatch] = {}
    for score in scores:
        candidate = by_id[score.candidate_id]
        known = best.get(candidate.person.id)
        if known is None or score.match_weight > known.score.match_weight:
            best[candidate.person.id] = PersonMatch(candidate.person, candidate.record, score)
    return sorted(best.values(), key=lambda m: (-m.score.match_weight, m.person.id))


def score_records(
    settings: Settings, features: LinkFeatures, rows: Sequence[dict[str, str | None]]
) -> list[PairScore]:
    """Score the features against stored records' rows with the configured model."""
    scorer = scorer_for(settings.empi_model_path or DEFAULT_MODEL_PATH)
    return scorer.score(features.as_row("new"), rows)

