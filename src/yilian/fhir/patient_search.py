"""Read, search, create and ``$match`` of Patient, and its declaration.

Who may see whom comes from the patient index (``patients.visible_person_ids``,
``get_person_or_raise``), so the facade never decides access itself; reads and searches
are audited like the index's own. Search reads the index tables directly (read-only), as
the registry searches do, because FHIR search semantics (prefix strings, OR lists, date
prefixes, tokens with systems) have no equivalent in ``patients.list_persons``.
Registration goes through ``patients.register_record`` and matching through
``matching.find_matches``: the same linking and the same trained model as every other path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import QueryableAttribute, Session, selectinload

from yilian.auth.permissions import Action, Principal
from yilian.config import Settings
from yilian.crypto import FieldCipher, cipher_from_settings
from yilian.errors import InvalidInput
from yilian.fhir import systems
from yilian.fhir.audit import EntityLink, link_entity
from yilian.fhir.capability import Operation, ResourceDeclaration, not_found
from yilian.fhir.dates import CHINA_STANDARD_TIME, DateRange
from yilian.fhir.patient import (
    PatientDescription,
    PatientView,
    SourceRecord,
    describe_patient,
    has_characters,
    patient_resource,
    pinyin_key,
)
from yilian.fhir.search import (
    ID_PARAM,
    BadSearch,
    Clause,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    any_of,
    dates,
    int_ids,
    page_statements,
    prefixed_id,
    standard,
    strings,
    tokens,
)
from yilian.patients import matching
from yilian.patients import service as patients
from yilian.patients.features import name_pinyin, normalise_name
from yilian.patients.models import LinkMethod, PatientRecord, Person, Sex
from yilian.patients.resident_id import ResidentIdError
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry
from yilian.registry.models import Institution
from yilian.validation import describe_validation_errors

Condition = ColumnElement[bool]

#: Response header of a create: how the new record was linked (resident_id, probabilistic,
#: new_person), so a registration desk can tell "known patient" from "new patient".
LINK_OUTCOME_HEADER = "X-Yilian-Link-Outcome"
MATCH_DEFAULT_COUNT = 10
MATCH_MAX_COUNT = 50

link_entity(EntityLink("person", "Patient"))


# ---------------------------------------------------------------- what a reader sees


def patient_view(
    session: Session, cipher: FieldCipher, principal: Principal, person: Person
) -> PatientView:
    """The person as this reader may see them.

    The resident ID and a phone number are shown in full only when a record of the
    reader's institutions (their own and the campuses they run) holds them: the
    institution that registered a number already knows it. Elsewhere they are masked.
    """
    records = patients.visible_records(principal, person)
    own = principal.institution_ids
    institutions = registry.institutions_by_id(
        session, ids={record.institution_id for record in records}
    )
    with_id = [record for record in records if record.id_number_cipher]
    own_id = next((record for record in with_id if record.institution_id in own), None)
    resident_id = ""
    if own_id is not None and own_id.id_number_cipher:
        resident_id = cipher.decrypt(matching.ID_FIELD, own_id.id_number_cipher)
    elif with_id:
        resident_id = with_id[0].id_number_masked
    phones: dict[str, bool] = {}  # number → recorded by the reader's institutions
    for record in records:
        if record.phone_cipher:
            number = cipher.decrypt(matching.PHONE_FIELD, record.phone_cipher)
            phones[number] = phones.get(number, False) or record.institution_id in own
    insured = sorted(
        (record for record in records if record.insured_region_code or record.insurance_scheme),
        key=lambda record: (record.updated_at, record.id),
    )
    newest = insured[-1] if insured else None
    scheme = newest.insurance_scheme if newest is not None else None
    replaces = session.scalars(
        select(Person.id).where(Person.merged_into_id == person.id).order_by(Person.id)
    )
    return PatientView(
        person=person,
        records=[
            SourceRecord(record.institution_id, institutions[record.institution_id].code,
                         institutions[record.institution_id].name, record.local_id)
            for record in records
        ],
        resident_id=resident_id,
        phones=list(dict.fromkeys(
            number if mine else patients.mask_phone(number) for number, mine in phones.items()
        )),
        addresses=list(dict.fromkeys(record.address for record in records if record.address)),
        insured_region_code=newest.insured_region_code if newest else None,
        insurance_scheme=scheme.value if scheme is not None else None,
        replaces=list(replaces),
        redacted=(bool(with_id) and own_id is None) or not all(phones.values()),
    )


def read_patient(
    session: Session, settings: Settings, principal: Principal, resource_id: str
) -> dict[str, Any]:
    """A person the reader may see (404 otherwise, so existence does not leak); audited."""
    person_id = prefixed_id(resource_id)
    if person_id is None:
        raise not_found("Patient", resource_id)
    person = patients.get_person_or_raise(session, principal, person_id=person_id)
    return patient_resource(patient_view(session, cipher_from_settings(settings), principal,
                                         person))


# ---------------------------------------------------------------- search


def _records_where(condition: Condition) -> Condition:
    """People with at least one source record meeting the condition."""
    return Person.id.in_(select(PatientRecord.person_id).where(condition))


def _text(column: QueryableAttribute[str | None], value: str, modifier: str) -> Condition:
    if modifier == "exact":
        return column == value
    if modifier == "contains":
        return column.icontains(value, autoescape=True)
    return column.istartswith(value, autoescape=True)


def _resident_id_hashes(cipher: FieldCipher, number: str) -> tuple[str, ...]:
    """The keyed hashes a searched resident ID may be stored under; a 400 for an impossible
    one."""
    try:
        return matching.id_hashes(cipher, number)
    except ResidentIdError as exc:  # its message never repeats the number
        raise BadSearch("invalid_search_value", f"参数 identifier：{exc.zh}",
                        f"Parameter identifier: {exc.en}") from exc


def _identifier_condition(session: Session, cipher: FieldCipher, clause: Clause) -> Condition:
    conditions: list[Condition] = []
    for token in tokens(clause):
        institution_code = systems.institution_code_of(token.system or "")
        if token.system is None:  # a patient number anywhere, or a resident ID
            conditions.append(PatientRecord.local_id == token.code)
            try:
                hashed = matching.id_hashes(cipher, token.code)
            except ResidentIdError:
                hashed = ()
            if hashed:
                conditions.append(PatientRecord.id_number_hash.in_(hashed))
        elif token.system == systems.RESIDENT_ID:
            conditions.append(
                PatientRecord.id_number_hash.in_(_resident_id_hashes(cipher, token.code))
                if token.code else PatientRecord.id_number_hash.is_not(None)
            )
        elif institution_code is not None:
            institution = registry.get_institution_by_code(session, code=institution_code)
            if institution is None:
                continue
            at_institution = PatientRecord.institution_id == institution.id
            conditions.append(
                and_(at_institution, PatientRecord.local_id == token.code)
                if token.code else at_institution
            )
    return _records_where(any_of(conditions))


def _name_condition(clause: Clause) -> Condition:
    """A name in characters as written; a Latin one also as pinyin (zhang wei, Zhang)."""
    conditions: list[Condition] = []
    for value in strings(clause):
        text = normalise_name(value) or value
        conditions.append(_text(PatientRecord.name, text, clause.modifier))
        if not has_characters(text):
            key = name_pinyin(text)[1]
            if key:
                conditions.append(_text(PatientRecord.name_py, key, clause.modifier))
    return _records_where(any_of(conditions))


def _family_condition(clause: Clause) -> Condition:
    """The surname: 张 or 欧阳 starting the name in characters, or its pinyin."""
    conditions: list[Condition] = []
    for value in strings(clause):
        text = normalise_name(value) or value
        if has_characters(text):
            starts = PatientRecord.name.startswith(text, autoescape=True)
            conditions.append(
                and_(starts, PatientRecord.surname_py == name_pinyin(text)[0])
                if clause.modifier == "exact" else starts
            )
        elif pinyin_key(text):
            conditions.append(_text(PatientRecord.surname_py, pinyin_key(text), clause.modifier))
    return _records_where(any_of(conditions))


def _days(value: DateRange) -> tuple[date, date]:
    """First and last day (Beijing time) a date search value covers."""
    first = value.start.astimezone(CHINA_STANDARD_TIME).date()
    last = (value.end - timedelta(microseconds=1)).astimezone(CHINA_STANDARD_TIME).date()
    return first, last


def _birth_date_condition(clause: Clause) -> Condition:
    conditions: list[Condition] = []
    for value in dates(clause):
        first, last = _days(value)
        conditions.append({
            "eq": Person.birth_date.between(first, last),
            "ge": Person.birth_date >= first,
            "gt": Person.birth_date > last,
            "le": Person.birth_date <= last,
            "lt": Person.birth_date < first,
        }[value.prefix])
    return any_of(conditions)


def _condition(session: Session, cipher: FieldCipher, clause: Clause) -> Condition:
    """One clause of a Patient search."""
    if clause.name == "_id":
        return Person.id.in_(int_ids(strings(clause)))
    if clause.name == "identifier":
        return _identifier_condition(session, cipher, clause)
    if clause.name == "name":
        return _name_condition(clause)
    if clause.name == "family":
        return _family_condition(clause)
    if clause.name == "birthdate":
        return _birth_date_condition(clause)
    if clause.name == "gender":
        return Person.sex.in_([
            Sex(token.code) for token in tokens(clause)
            if token.names(systems.HL7_ADMINISTRATIVE_GENDER) and token.code in set(Sex)
        ])
    if clause.name == "phone":
        hashes = [h for token in tokens(clause) for h in matching.phone_hashes(cipher, token.code)]
        return _records_where(PatientRecord.phone_hash.in_(hashes))
    raise AssertionError(f"unhandled search parameter {clause.name}")


def search_patients(
    session: Session, settings: Settings, principal: Principal, query: SearchQuery
) -> SearchResult:
    """People in use that the reader may see matching every clause, by id; audited."""
    cipher = cipher_from_settings(settings)
    statement = patients.searchable_people(principal).where(
        *[_condition(session, cipher, clause) for clause in query.clauses]
    )
    pages, total = page_statements(
        session, [statement.options(selectinload(Person.records)).order_by(Person.id)],
        offset=query.offset, count=query.count,
    )
    people: list[Person] = list(pages[0])
    patients.audit_search(session, principal, people, total=total)
    return SearchResult(
        [patient_resource(patient_view(session, cipher, principal, person)) for person in people],
        total,
    )


# ---------------------------------------------------------------- create


@dataclass(frozen=True)
class Created:
    """A registered Patient as its creator sees it, and how its record was linked."""

    resource: dict[str, Any]
    outcome: LinkMethod


def _known_systems_only(description: PatientDescription) -> None:
    if description.unknown_systems:
        names = ", ".join(description.unknown_systems)
        raise InvalidInput(
            "unknown_identifier_system",
            f"不认识的标识体系：{names}（患者号用 {systems.PATIENT_NUMBER_BASE}<机构代码>，"
            f"身份证号用 {systems.RESIDENT_ID}）",
            f"Unknown identifier system: {names} (patient numbers use "
            f"{systems.PATIENT_NUMBER_BASE}<institution code>, resident IDs {systems.RESIDENT_ID})",
        )


def _registering_institution(
    session: Session, principal: Principal, description: PatientDescription
) -> tuple[Institution, str]:
    """The institution registering the patient and its number, from the one patient-number
    identifier the Patient must carry (register_record checks the user may register there)."""
    own = (
        registry.get_institution(session, institution_id=principal.institution_id)
        if principal.institution_id is not None else None
    )
    example = systems.institution_patient_system(own.code if own else "<code>")
    if len(description.local_numbers) != 1:
        raise InvalidInput(
            "patient_number_required",
            f"须有且只有一个本机构患者号标识（system 为 {example}）",
            f"Give exactly one identifier with your institution's patient number "
            f"(system {example})",
        )
    number = description.local_numbers[0]
    institution = registry.get_institution_by_code(session, code=number.institution_code)
    if institution is None:
        system = systems.institution_patient_system(number.institution_code)
        raise InvalidInput(
            "unknown_identifier_system",
            f"标识体系中的机构代码不存在：{system}",
            f"No institution has the code in this identifier system: {system}",
        )
    if len(description.resident_ids) > 1:
        raise InvalidInput("resident_id_repeated", "只能给一个身份证号",
                           "Give one resident ID number, not several")
    return institution, number.local_id


def create_patient(
    session: Session, settings: Settings, principal: Principal, body: Mapping[str, Any]
) -> Created:
    """Register a posted Patient at an institution and link it to a person at once."""
    description = describe_patient(body)
    _known_systems_only(description)
    institution, local_id = _registering_institution(session, principal, description)
    try:
        data = RecordCreate.model_validate(
            {**description.record_fields(), "institution_id": institution.id,
             "local_id": local_id}
        )
    except ValidationError as exc:
        zh, en, details = describe_validation_errors(exc.errors())
        raise InvalidInput("invalid_patient", zh, en, details) from exc
    registration = patients.register_record(session, settings, principal, data=data)
    resource = read_patient(session, settings, principal, str(registration.person.id))
    return Created(resource, registration.outcome)


# ---------------------------------------------------------------- declaration

PATIENT = ResourceDeclaration(
    resource_type="Patient",
    action=Action.PATIENT_READ,
    documentation=(
        "A person of the patient index (EMPI): the golden record that every institution's "
        "record of the same human links to. identifier: one per source record, system "
        f"{systems.PATIENT_NUMBER_BASE}<institution code>, value the local patient number, "
        f"assigner the Organization; and the resident ID ({systems.RESIDENT_ID}), masked "
        "unless the reader's institution registered it (phones likewise; a masked resource "
        "carries the security label REDACTED). name: in characters and in pinyin "
        "(iso21090-EN-representation IDE / ABC). A merged person reads active=false with "
        "link replaced-by; the survivor links replaces. Extensions, valueCode: "
        f"{systems.INSURED_REGION} (GB/T 2260 code of the insured region 参保地) and "
        f"{systems.INSURANCE_SCHEME} (employee | resident). create (POST Patient, needs "
        "patient write permission) registers a local patient number: exactly one identifier "
        "in the registering institution's patient-number system, optionally a resident ID, "
        "name, gender, birthDate (a full date), a phone, an address and the two extensions; "
        "the answer is 201 with Location Patient/<person id> (the same person when the "
        f"patient is already known) and the header {LINK_OUTCOME_HEADER}: resident_id, "
        "probabilistic or new_person. Staff see the patients their institutions registered "
        "or were shared; platform administrators see all."
    ),
    search_params=(
        ID_PARAM,
        SearchParam("identifier", ParamType.TOKEN,
                    f"A patient number ({systems.PATIENT_NUMBER_BASE}<institution code>|"
                    f"<number>, or <institution system>| for all that institution's patients) "
                    f"or a resident ID in full ({systems.RESIDENT_ID}|<number>). Without a "
                    "system: a patient number at any institution, or a resident ID.",
                    standard("Patient", "identifier")),
        SearchParam("name", ParamType.STRING,
                    "A name in characters (张伟) or in pinyin (zhang wei, zhangwei), as any "
                    "institution registered it.",
                    standard("Patient", "name")),
        SearchParam("family", ParamType.STRING,
                    "The surname in characters (张, 欧阳) or pinyin (zhang).",
                    standard("Patient", "family")),
        SearchParam("birthdate", ParamType.DATE,
                    "Birth date; eq (default), ge, gt, le, lt at any precision (1975, "
                    "1975-06).",
                    standard("Patient", "birthdate")),
        SearchParam("gender", ParamType.TOKEN, "male | female | other | unknown.",
                    standard("Patient", "gender")),
        SearchParam("phone", ParamType.TOKEN, "A phone number as any institution recorded it.",
                    standard("Patient", "phone")),
    ),
    interactions=("read", "search-type", "create"),
    operations=(
        Operation(
            "match", systems.HL7_PATIENT_MATCH,
            "POST Parameters (resource: a Patient; onlyCertainMatches; count, default "
            f"{MATCH_DEFAULT_COUNT}, at most {MATCH_MAX_COUNT}) or the Patient itself. Returns a "
            "searchset Bundle, most likely first: search.score is the match probability, the "
            "match-grade extension certain (same resident ID or patient number), probable "
            "(would link at once) or possible (would go to review). Only people the caller "
            "may see are returned.",
        ),
    ),
)
