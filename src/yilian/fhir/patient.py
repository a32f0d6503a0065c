"""The patient index as FHIR Patient: pure mapping both ways (queries live in ``patient_search``).

``Patient/{person.id}`` is a person, the golden record every institution's source record of
the same human links to. Outgoing, a person shows:

- ``identifier``: one per source record (system = the institution's patient-number system,
  see :func:`systems.institution_patient_system`; value = its local patient number;
  ``assigner`` = the institution's Organization), then the resident ID 居民身份证号
  (:data:`systems.RESIDENT_ID`), masked unless the reader's institution registered it;
- ``name``: in characters (family and given split for a 2–4 character Chinese name) and
  the same name in pinyin, told apart by the ``iso21090-EN-representation`` extension
  (IDE ideographic, ABC alphabetic);
- ``telecom``: the phones the records give, masked unless the reader's institution
  recorded that number; ``address`` as text; ``gender`` and ``birthDate``;
- the insured region 参保地 and scheme as extensions (:data:`systems.INSURED_REGION`,
  :data:`systems.INSURANCE_SCHEME`) from the newest record that has them;
- ``active: false`` and ``link`` ``replaced-by`` once merged into another person; the
  survivor ``link``\\s ``replaces`` to each person merged into it.

A resource with any masked value carries the security label REDACTED.

Incoming, :func:`describe_patient` reads a posted Patient (create, ``$match``) into the
index's terms and :func:`match_request` reads the ``$match`` Parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError

from yilian.errors import InvalidInput, YilianError
from yilian.fhir import systems
from yilian.fhir.bundle import validated
from yilian.patients.features import name_pinyin, normalise_name
from yilian.patients.models import Person, PersonStatus, Sex
from yilian.validation import describe_validation_errors

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NOT_LETTER = re.compile(r"[^a-z]")
_V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
_LOCAL_NUMBER_TYPE = {
    "coding": [
        {"system": systems.HL7_IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}
    ],
    "text": "患者号 / Patient number",
}
_RESIDENT_ID_TYPE = {"text": "居民身份证号 / Resident ID number"}


class InvalidResource(YilianError):
    """A posted resource that is not valid FHIR, or not the resource expected (HTTP 400)."""

    def __init__(self, zh: str, en: str, details: list[dict[str, Any]] | None = None):
        super().__init__("invalid_resource", zh, en, 400, details or [])


# ---------------------------------------------------------------- outgoing


@dataclass(frozen=True)
class SourceRecord:
    """One source record as an identifier: the institution's patient number."""

    institution_id: int
    institution_code: str
    institution_name: str
    local_id: str


@dataclass(frozen=True)
class PatientView:
    """A person as one reader may see them: numbers in full only where the reader's
    institution registered them, masked elsewhere."""

    person: Person
    records: Sequence[SourceRecord]
    resident_id: str  # in full, masked, or "" without one
    phones: Sequence[str]
    addresses: Sequence[str]
    insured_region_code: str | None
    insurance_scheme: str | None
    replaces: Sequence[int]  # ids of the persons merged into this one
    redacted: bool  # some value is masked


def split_name(name: str) -> tuple[str, str] | None:
    """(family, given) of a 2–4 character Chinese name (欧阳娜娜 → 欧阳, 娜娜), else None.

    Longer names are mostly transliterations (阿卜杜热合曼) with no surname to split off.
    """
    if not 2 <= len(name) <= 4 or len(_CJK.findall(name)) != len(name):
        return None
    # name_pinyin knows the compound surnames: a two-character start that reads wholly
    # as a surname is one (欧阳 → ouyang, ouyang), an ordinary start is not (张伟).
    surname_py, full_py = name_pinyin(name[:2])
    length = 2 if surname_py == full_py else 1
    return name[:length], name[length:]


def _representation(code: str) -> list[dict[str, str]]:
    return [{"url": systems.HL7_NAME_REPRESENTATION, "valueCode": code}]


def human_names(name: str) -> list[dict[str, Any]]:
    """The name as written and, for a name in characters, its pinyin (张伟, Zhang Wei)."""
    if not name:
        return []
    if not _CJK.search(name):
        return [{"use": "official", "text": name}]
    written: dict[str, Any] = {
        "extension": _representation("IDE"), "use": "official", "text": name
    }
    parts = split_name(name)
    if parts is not None:
        written["family"] = parts[0]
        if parts[1]:
            written["given"] = [parts[1]]
    surname_py, full_py = name_pinyin(name)
    if not full_py:
        return [written]
    given_py = full_py[len(surname_py):]
    pinyin: dict[str, Any] = {
        "extension": _representation("ABC"),
        "use": "official",
        "text": " ".join(part.capitalize() for part in (surname_py, given_py) if part),
    }
    if parts is not None:
        pinyin["family"] = surname_py.capitalize()
        if given_py:
            pinyin["given"] = [given_py.capitalize()]
    return [written, pinyin]


def _local_identifier(record: SourceRecord) -> dict[str, Any]:
    return {
        "use": "usual",
        "type": _LOCAL_NUMBER_TYPE,
        "system": systems.institution_patient_system(record.institution_code),
        "value": record.local_id,
        "assigner": {
            "reference": f"Organization/{record.institution_id}",
            "display": record.institution_name,
        },
    }


def _extensions(view: PatientView) -> list[dict[str, str]]:
    found = []
    if view.insured_region_code:
        found.append({"url": systems.INSURED_REGION, "valueCode": view.insured_region_code})
    if view.insurance_scheme:
        found.append({"url": systems.INSURANCE_SCHEME, "valueCode": view.insurance_scheme})
    return found


def _links(view: PatientView) -> list[dict[str, Any]]:
    person = view.person
    links = [
        {"other": {"reference": f"Patient/{retired}"}, "type": "replaces"}
        for retired in view.replaces
    ]
    if person.merged_into_id is not None:
        links.insert(
            0, {"other": {"reference": f"Patient/{person.merged_into_id}"}, "type": "replaced-by"}
        )
    return links


def patient_resource(view: PatientView) -> dict[str, Any]:
    """A person as a Patient, as this reader may see them."""
    person = view.person
    resource: dict[str, Any] = {"resourceType": "Patient", "id": str(person.id)}
    if view.redacted:
        resource["meta"] = {
            "security": [{"system": _V3_OBSERVATION_VALUE, "code": "REDACTED",
                          "display": "redacted"}]
        }
    extensions = _extensions(view)
    if extensions:
        resource["extension"] = extensions
    identifiers = [_local_identifier(record) for record in view.records]
    if view.resident_id:
        identifiers.append({"use": "official", "type": _RESIDENT_ID_TYPE,
                            "system": systems.RESIDENT_ID, "value": view.resident_id})
    if identifiers:
        resource["identifier"] = identifiers
    resource["active"] = person.status is PersonStatus.ACTIVE
    names = human_names(person.name)
    if names:
        resource["name"] = names
    if view.phones:
        resource["telecom"] = [{"system": "phone", "value": phone} for phone in view.phones]
    resource["gender"] = person.sex.value
    if person.birth_date is not None:
        resource["birthDate"] = person.birth_date.isoformat()
    if view.addresses:
        resource["address"] = [{"text": text} for text in view.addresses]
    links = _links(view)
    if links:
        resource["link"] = links
    return resource


def match_entry(
    *, base_url: str, resource: dict[str, Any], score: float, grade: str
) -> dict[str, Any]:
    """A ``$match`` result: the Patient, its score (0–1) and its FHIR match grade."""
    return {
        "fullUrl": f"{base_url}/Patient/{resource['id']}",
        "resource": resource,
        "search": {
            "extension": [{"url": systems.HL7_MATCH_GRADE, "valueCode": grade}],
            "mode": "match",
            "score": score,
        },
    }


# ---------------------------------------------------------------- incoming


@dataclass(frozen=True)
class LocalNumber:
    """A patient number an institution gave, named by the institution's code."""

    institution_code: str
    local_id: str


@dataclass(frozen=True)
class PatientDescription:
    """What a posted Patient says about the patient, in the patient index's terms."""

    local_numbers: tuple[LocalNumber, ...]
    resident_ids: tuple[str, ...]
    unknown_systems: tuple[str, ...]  # identifier systems the index does not keep
    name: str
    sex: Sex
    birth_date: date | None
    phone: str | None
    address: str
    insured_region_code: str | None
    insurance_scheme: str | None

    def record_fields(self) -> dict[str, Any]:
        """The fields of a patient-index record (``RecordFields``) this description gives."""
        return {
            "name": self.name,
            "sex": self.sex,
            "birth_date": self.birth_date,
            "id_number": self.resident_ids[0] if self.resident_ids else None,
            "phone": self.phone,
            "address": self.address,
            "insured_region_code": self.insured_region_code,
            "insurance_scheme": self.insurance_scheme,
        }


def _as_fhir(resource: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    """The resource after R4B validation, in its JSON form; a 400 when it is not valid."""
    if resource.get("resourceType") != resource_type:
        found = resource.get("resourceType") or "-"
        raise InvalidResource(f"应为 {resource_type} 资源，收到：{found}",
                              f"Expected a {resource_type} resource, got: {found}")
    try:
        model = validated(dict(resource))
    except ValidationError as exc:
        zh, en, details = describe_validation_errors(exc.errors())
        raise InvalidResource(zh, en, details) from exc
    data: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return data


def _unprocessable(code: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(code, zh, en)


def _identifiers(
    patient: Mapping[str, Any],
) -> tuple[tuple[LocalNumber, ...], tuple[str, ...], tuple[str, ...]]:
    local_numbers: list[LocalNumber] = []
    resident_ids: list[str] = []
    unknown: list[str] = []
    for identifier in patient.get("identifier", []):
        system = str(identifier.get("system", ""))
        value = str(identifier.get("value", "")).strip()
        if not value:
            raise _unprocessable(
                "identifier_value_required",
                f"标识缺少取值：{system or '（无 system）'}",
                f"An identifier has no value: {system or '(no system)'}",
            )
        institution_code = systems.institution_code_of(system)
        if system == systems.RESIDENT_ID:
            resident_ids.append(value)
        elif institution_code is not None:
            local_numbers.append(LocalNumber(institution_code, value))
        else:
            unknown.append(system or "(no system)")
    return tuple(local_numbers), tuple(dict.fromkeys(resident_ids)), tuple(unknown)


def _name(patient: Mapping[str, Any]) -> str:
    """The name in characters when one is given, else the first name (pinyin, Latin)."""
    names: list[Mapping[str, Any]] = patient.get("name", [])
    texts = []
    for name in names:
        family = str(name.get("family", ""))
        given = [str(part) for part in name.get("given", [])]
        text = str(name.get("text", ""))
        if not text and _CJK.search(family + "".join(given)):
            text = family + "".join(given)
        elif not text:
            text = " ".join([family, *given]).strip()  # pinyin: surname first
        if text:
            texts.append(text)
    chosen = next((text for text in texts if _CJK.search(text)), texts[0] if texts else "")
    return normalise_name(chosen) or ""


def _sex(patient: Mapping[str, Any]) -> Sex:
    gender = patient.get("gender")
    if gender is None:
        return Sex.UNKNOWN
    if gender not in set(Sex):
        raise _unprocessable("invalid_gender", f"性别取值无效：{gender}",
                             f"Not an administrative gender: {gender}")
    return Sex(gender)


def _birth_date(patient: Mapping[str, Any]) -> date | None:
    written = patient.get("birthDate")
    if written is None:
        return None
    if len(str(written)) == 10:  # R4B has checked the form; 1975 or 1975-06 is too vague
        return date.fromisoformat(str(written))
    raise _unprocessable("birth_date_incomplete", f"出生日期须精确到日：{written}",
                         f"The birth date must be a full date (YYYY-MM-DD): {written}")


def _phone(patient: Mapping[str, Any]) -> str | None:
    for telecom in patient.get("telecom", []):
        if telecom.get("system") == "phone" and telecom.get("value"):
            return str(telecom["value"])
    return None


def _address(patient: Mapping[str, Any]) -> str:
    for address in patient.get("address", []):
        if address.get("text"):
            return str(address["text"])
        parts = [address.get(key, "") for key in ("state", "city", "district")]
        text = "".join([*parts, *address.get("line", [])])  # Chinese order: largest first
        if text:
            return text
    return ""


def _extension_code(patient: Mapping[str, Any], url: str) -> str | None:
    for extension in patient.get("extension", []):
        if extension.get("url") == url:
            value = extension.get("valueCode")
            if not value:
                raise _unprocessable("extension_value_required", f"扩展须有 valueCode：{url}",
                                     f"The extension needs a valueCode: {url}")
            return str(value)
    return None


def describe_patient(resource: Mapping[str, Any]) -> PatientDescription:
    """What a posted Patient says, checked: 400 when not a valid Patient, 422 when the index
    cannot take a value (a partial birth date, an unknown gender)."""
    patient = _as_fhir(resource, "Patient")
    local_numbers, resident_ids, unknown = _identifiers(patient)
    return PatientDescription(
        local_numbers=local_numbers,
        resident_ids=resident_ids,
        unknown_systems=unknown,
        name=_name(patient),
        sex=_sex(patient),
        birth_date=_birth_date(patient),
        phone=_phone(patient),
        address=_address(patient),
        insured_region_code=_extension_code(patient, systems.INSURED_REGION),
        insurance_scheme=_extension_code(patient, systems.INSURANCE_SCHEME),
    )


def pinyin_key(text: str) -> str:
    """Letters of a Latin name or surname, lower case, ü as v: the form pinyin is kept in."""
    return _NOT_LETTER.sub("", text.lower().replace("ü", "v"))


def has_characters(text: str) -> bool:
    """Whether the text has Chinese characters (else it is read as pinyin or Latin)."""
    return _CJK.search(text) is not None


@dataclass(frozen=True)
class MatchRequest:
    """The input of ``Patient/$match``."""

    patient: dict[str, Any]
    only_certain: bool
    count: int | None


def match_request(body: Mapping[str, Any]) -> MatchRequest:
    """The ``$match`` input: Parameters (resource, onlyCertainMatches, count), or the
    Patient itself, as FHIR allows for an operation whose only resource input it is."""
    if body.get("resourceType") == "Patient":
        return MatchRequest(dict(body), only_certain=False, count=None)
    parameters = _as_fhir(body, "Parameters")
    patient: dict[str, Any] | None = None
    only_certain, count = False, None
    for parameter in parameters.get("parameter", []):
        name = parameter.get("name")
        if name == "resource":
            patient = parameter.get("resource")
        elif name == "onlyCertainMatches":
            only_certain = parameter.get("valueBoolean") is True
        elif name == "count":
            count = parameter.get("valueInteger")
            if not isinstance(count, int) or count < 1:
                raise InvalidResource("count 须为正整数", "count must be a positive integer")
    if patient is None:
        raise InvalidResource("缺少参数 resource（要匹配的 Patient）",
                              "Parameter resource (the Patient to match) is missing")
    return MatchRequest(patient, only_certain=only_certain, count=count)
