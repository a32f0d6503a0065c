"""``Patient/$match``: the people a described patient may be, graded as FHIR asks.

Candidates and scores come from ``matching.find_matches``, the trained model every linking
path uses; a resident ID or a patient number a person already holds is certain. What the
caller may see, and how a person reads, is ``patient_search``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.config import Settings
from yilian.crypto import cipher_from_settings
from yilian.fhir.patient import (
    InvalidResource,
    PatientDescription,
    describe_patient,
    match_entry,
    match_request,
    patient_resource,
)
from yilian.fhir.patient_search import MATCH_DEFAULT_COUNT, MATCH_MAX_COUNT, patient_view
from yilian.patients import matching
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.registry import service as registry


@dataclass(frozen=True)
class _Scored:
    person: Person
    score: float
    grade: str


def _certain_people(
    session: Session, description: PatientDescription, id_hashes: tuple[str, ...]
) -> list[Person]:
    """People the description names outright: by resident ID or by a patient number."""
    found: dict[int, Person] = {}
    person = patients.person_holding_id(session, id_hashes=id_hashes)
    if person is not None:
        found[person.id] = person
    for number in description.local_numbers:
        institution = registry.get_institution_by_code(session, code=number.institution_code)
        record = None if institution is None else patients.get_record_by_local_id(
            session, institution_id=institution.id, local_id=number.local_id
        )
        if record is not None:
            found[record.person_id] = record.person
    return list(found.values())


def _visible_ids(session: Session, principal: Principal, ids: list[int]) -> set[int]:
    visible = patients.visible_person_ids(principal)
    if visible is None:
        return set(ids)
    return set(session.scalars(select(Person.id).where(Person.id.in_(ids),
                                                       Person.id.in_(visible))))


def _too_little_to_match(description: PatientDescription, id_hash: str | None) -> bool:
    """Whether nothing in the description could find a candidate (see matching's blocking)."""
    return not (
        id_hash
        or description.local_numbers
        or description.phone
        or (description.name and description.birth_date)
    )


def match_patients(
    session: Session,
    settings: Settings,
    principal: Principal,
    body: Mapping[str, Any],
    *,
    base_url: str,
) -> dict[str, Any]:
    """``Patient/$match``: the people the posted Patient may be, most likely first.

    A resident ID or patient number held by a person is ``certain`` (score 1); the rest are
    the trained model's candidates graded against the deployment's thresholds. Candidates
    below the review threshold (``certainly-not``) are left out, and so are people the
    caller may not see. Audited with the people returned.
    """
    request = match_request(body)
    description = describe_patient(request.patient)
    cipher = cipher_from_settings(settings)
    id_number = description.resident_ids[0] if description.resident_ids else None
    id_hash = matching.id_hash(cipher, id_number)
    if _too_little_to_match(description, id_hash):
        raise InvalidResource(
            "信息不足以匹配：请至少给出身份证号、患者号、手机号，或姓名加出生日期",
            "Too little to match on: give a resident ID, a patient number, a phone, or a "
            "name with a birth date",
        )
    scored = [_Scored(person, 1.0, matching.MatchGrade.CERTAIN)
              for person in _certain_people(session, description,
                                            matching.id_hashes(cipher, id_number))]
    certain_ids = {item.person.id for item in scored}
    features = matching.features_of(
        name=description.name, sex=description.sex.value, birth_date=description.birth_date,
        phone=description.phone, address=description.address, id_hash=id_hash,
    )
    for match in matching.find_matches(session, settings, features):
        probability = match.score.match_probability
        grade = matching.grade(probability, settings)
        if match.person.id not in certain_ids and grade != matching.MatchGrade.CERTAINLY_NOT:
            scored.append(_Scored(match.person, probability, grade))
    if request.only_certain:
        scored = [item for item in scored if item.grade == matching.MatchGrade.CERTAIN]
    visible = _visible_ids(session, principal, [item.person.id for item in scored])
    scored = sorted((item for item in scored if item.person.id in visible),
                    key=lambda item: (-item.score, item.person.id))
    scored = scored[:min(request.count or MATCH_DEFAULT_COUNT, MATCH_MAX_COUNT)]
    audit.record(
        session,
        action="patient.match",
        entity_type="person",
        institution_id=principal.institution_id,
        detail={"returned": [item.person.id for item in scored],
                "grades": [item.grade for item in scored]},
    )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(scored),
        "link": [{"relation": "self", "url": f"{base_url}/Patient/$match"}],
    }
    entries = [
        match_entry(
            base_url=base_url,
            resource=patient_resource(patient_view(session, cipher, principal, item.person)),
            score=item.score,
            grade=item.grade,
        )
        for item in scored
    ]
    if description.unknown_systems:
        entries.append({"resource": _ignored_identifiers(description.unknown_systems),
                        "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _ignored_identifiers(unknown: tuple[str, ...]) -> dict[str, Any]:
    names = ", ".join(unknown)
    return {
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "warning",
            "code": "not-supported",
            "details": {"text": f"未用于匹配的标识体系：{names} / "
                                f"Identifier systems not used for matching: {names}"},
        }],
    }
