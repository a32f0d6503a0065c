"""Patient: a person of the patient index read, searched, registered and matched over FHIR."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_user, register, resident_id_number
from tests.fhir.conftest import Network, assert_valid, entry_ids, fhir_json
from yilian.audit.models import AuditEvent
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.fhir import systems
from yilian.fhir.patient import human_names, split_name
from yilian.patients import merging
from yilian.patients.models import PatientRecord, Person
from yilian.patients.service import mask_phone

BORN = date(1975, 6, 2)
ZHANG_ID = resident_id_number("130730", BORN, 45, male=True)
ZHANG_PHONE = "13812345678"
ZHANG_ADDRESS = "河北省张家口市怀来县沙城镇东大街12号"
GRADE_URL = "http://hl7.org/fhir/StructureDefinition/match-grade"


@dataclass
class Readers:
    """Headers of a Huailai and a Baoding clinician and of the platform administrator."""

    huailai: dict[str, str]
    baoding: dict[str, str]
    root: dict[str, str]


@pytest.fixture
def readers(client: TestClient, session: Session, network: Network,
            reader: dict[str, str]) -> Readers:
    make_user(session, role=Role.CLINICIAN, institution=network.baoding, username="bd_doctor")
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    return Readers(reader, bearer(client, "bd_doctor"), bearer(client, "root"))


@pytest.fixture
def zhang(session: Session, settings: Settings, network: Network) -> Person:
    """张伟, registered at Huailai with his resident ID, phone and insurance."""
    made = register(session, settings, network.huailai, "HL-0001", name="张伟", sex="male",
                    birth_date=BORN, id_number=ZHANG_ID, phone=ZHANG_PHONE,
                    address=ZHANG_ADDRESS, insured_region_code="130730",
                    insurance_scheme="resident")
    session.commit()
    return made.person


def patient_system(network_institution: Any) -> str:
    return systems.institution_patient_system(network_institution.code)


def identifiers(patient: dict[str, Any]) -> dict[str, str]:
    return {i["system"]: i["value"] for i in patient.get("identifier", [])}


def search(client: TestClient, headers: dict[str, str], query: str) -> dict[str, Any]:
    bundle = fhir_json(client.get(f"/fhir/r4/Patient?{query}", headers=headers))
    assert_valid(bundle)
    return bundle


def patient_body(institution_code: str, local_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": systems.institution_patient_system(institution_code),
                        "value": local_id}],
        **extra,
    }


def match(client: TestClient, headers: dict[str, str], patient: dict[str, Any],
          **parameters: Any) -> dict[str, Any]:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient},
            *({"name": "onlyCertainMatches", "valueBoolean": value}
              for key, value in parameters.items() if key == "only_certain"),
            *({"name": "count", "valueInteger": value}
              for key, value in parameters.items() if key == "count"),
        ],
    }
    bundle = fhir_json(client.post("/fhir/r4/Patient/$match", json=body, headers=headers))
    assert_valid(bundle)
    assert bundle["type"] == "searchset"
    return bundle


def grades(bundle: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(patient id, match grade, score) of each match, in order."""
    return [
        (entry["resource"]["id"], entry["search"]["extension"][0]["valueCode"],
         entry["search"]["score"])
        for entry in bundle.get("entry", [])
        if entry["search"]["mode"] == "match"
        and entry["search"]["extension"][0]["url"] == GRADE_URL
    ]


# ---------------------------------------------------------------- read


def test_a_person_reads_with_each_institutions_number_and_the_others_numbers_masked(
    client: TestClient, session: Session, settings: Settings, network: Network,
    readers: Readers, zhang: Person,
) -> None:
    at_baoding = register(session, settings, network.baoding, "BD-77", name="张伟", sex="male",
                          id_number=ZHANG_ID, phone="13900001111")
    session.commit()
    assert at_baoding.person.id == zhang.id

    seen_at_huailai = fhir_json(client.get(f"/fhir/r4/Patient/{zhang.id}",
                                           headers=readers.huailai))
    seen_by_admin = fhir_json(client.get(f"/fhir/r4/Patient/{zhang.id}", headers=readers.root))

    for patient in (seen_at_huailai, seen_by_admin):
        assert_valid(patient)
        assert patient["active"] is True
        assert identifiers(patient)[patient_system(network.huailai)] == "HL-0001"
        assert identifiers(patient)[patient_system(network.baoding)] == "BD-77"
    local = seen_at_huailai["identifier"][0]
    assert local["assigner"]["reference"] == f"Organization/{network.huailai.id}"
    assert local["type"]["coding"][0]["code"] == "MR"
    # Huailai registered the ID and the 138 number: it sees them; Baoding's phone is masked.
    assert identifiers(seen_at_huailai)[systems.RESIDENT_ID] == ZHANG_ID
    assert [t["value"] for t in seen_at_huailai["telecom"]] == [ZHANG_PHONE, "139****1111"]
    # The platform administrator registered neither record.
    assert identifiers(seen_by_admin)[systems.RESIDENT_ID] == ZHANG_ID[:6] + "*" * 8 + ZHANG_ID[-4:]
    assert [t["value"] for t in seen_by_admin["telecom"]] == ["138****5678", "139****1111"]
    assert seen_by_admin["meta"]["security"][0]["code"] == "REDACTED"
    # The name in characters and in pinyin, the golden sex and birth date, the insurance.
    written, pinyin = seen_at_huailai["name"]
    assert (written["text"], written["family"], written["given"]) == ("张伟", "张", ["伟"])
    assert (pinyin["text"], pinyin["family"], pinyin["given"]) == ("Zhang Wei", "Zhang", ["Wei"])
    assert [n["extension"][0]["valueCode"] for n in (written, pinyin)] == ["IDE", "ABC"]
    assert (seen_at_huailai["gender"], seen_at_huailai["birthDate"]) == ("male", "1975-06-02")
    assert seen_at_huailai["address"] == [{"text": ZHANG_ADDRESS}]
    assert {"url": systems.INSURED_REGION, "valueCode": "130730"} in seen_at_huailai["extension"]
    assert {"url": systems.INSURANCE_SCHEME, "valueCode": "resident"} in (
        seen_at_huailai["extension"]
    )
    reads = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "patient.read",
                                 AuditEvent.patient_id == zhang.id)
    ).all()
    assert {row.actor for row in reads} == {"doctor", "root"}


def test_a_clinician_elsewhere_cannot_tell_the_patient_exists(
    client: TestClient, network: Network, readers: Readers, zhang: Person
) -> None:
    for path in (f"Patient/{zhang.id}", "Patient/999999", "Patient/abc"):
        outcome = fhir_json(client.get(f"/fhir/r4/{path}", headers=readers.baoding), 404)
        assert_valid(outcome)
        assert outcome["issue"][0]["code"] == "not-found"


def test_a_merged_person_is_replaced_by_the_survivor(
    client: TestClient, session: Session, settings: Settings, network: Network,
    readers: Readers,
) -> None:
    first = register(session, settings, network.huailai, "HL-1", name="王芳", sex="female",
                     birth_date=date(1980, 1, 5), phone="13900000001", address="怀来县存瑞镇")
    second = register(session, settings, network.huailai, "HL-2", name="王芳", sex="female",
                      birth_date=date(1991, 9, 23), phone="13700000002", address="保定市竞秀区")
    assert first.person.id != second.person.id
    survivor, retired = first.person.id, second.person.id
    merging.merge_persons(session, settings, None, survivor_id=survivor, retired_id=retired,
                          reason="同一患者两次建档")
    session.commit()

    old = fhir_json(client.get(f"/fhir/r4/Patient/{retired}", headers=readers.huailai))
    new = fhir_json(client.get(f"/fhir/r4/Patient/{survivor}", headers=readers.huailai))
    found = search(client, readers.huailai, "name=王芳")

    assert_valid(old)
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{survivor}"}, "type": "replaced-by"}]
    assert "identifier" not in old  # its records moved to the survivor
    assert new["active"] is True
    assert new["link"] == [{"other": {"reference": f"Patient/{retired}"}, "type": "replaces"}]
    assert [i["value"] for i in new["identifier"]] == ["HL-1", "HL-2"]
    assert entry_ids(found) == [str(survivor)]


# ---------------------------------------------------------------- search


def test_search_by_patient_number_resident_id_pinyin_and_birth_date(
    client: TestClient, session: Session, settings: Settings, network: Network,
    readers: Readers, zhang: Person,
) -> None:
    register(session, settings, network.huailai, "HL-0002", name="李娜", sex="female",
             birth_date=date(1990, 2, 1))
    session.commit()
    him = [str(zhang.id)]
    huailai = patient_system(network.huailai)

    queries = {
        f"identifier={huailai}|HL-0001": him,
        "identifier=HL-0001": him,
        f"identifier={systems.RESIDENT_ID}|{ZHANG_ID}": him,
        f"identifier={ZHANG_ID.lower()}": him,
        f"identifier={patient_system(network.baoding)}|HL-0001": [],
        "name=zhang wei": him,
        "name=Zhang": him,
        "name=张伟": him,
        "name=张玮": [],
        "family=zhang": him,
        "family:exact=张": him,
        "birthdate=1975-06": him,
        "birthdate=le1975-06-02": him,
        "birthdate=lt1975-06-02": [],
        "gender=male&phone=138-1234-5678": him,
    }
    for query, expected in queries.items():
        assert entry_ids(search(client, readers.huailai, query)) == expected, query
    everyone = search(client, readers.huailai, f"identifier={huailai}|&_count=1")
    assert everyone["total"] == 2 and len(entry_ids(everyone)) == 1
    # Baoding has no record of either patient; an impossible resident ID is a 400.
    assert search(client, readers.baoding, "name=zhang")["total"] == 0
    bad = ZHANG_ID[:-1] + ("0" if ZHANG_ID[-1] != "0" else "1")
    outcome = fhir_json(client.get(
        f"/fhir/r4/Patient?identifier={systems.RESIDENT_ID}|{bad}", headers=readers.huailai
    ), 400)
    assert "校验码" in outcome["issue"][0]["details"]["text"]
    assert bad not in outcome["issue"][0]["details"]["text"]


# ---------------------------------------------------------------- create


def test_registering_the_same_resident_id_at_two_institutions_gives_one_patient(
    client: TestClient, session: Session, network: Network, readers: Readers
) -> None:
    details = {
        "name": [{"family": "宋", "given": ["秀兰"]}],
        "gender": "female",
        "birthDate": "1968-03-14",
        "telecom": [{"system": "phone", "value": "13512345678"}],
        "address": [{"text": "河北省保定市竞秀区朝阳南大街1号"}],
        "extension": [{"url": systems.INSURED_REGION, "valueCode": "130602"},
                      {"url": systems.INSURANCE_SCHEME, "valueCode": "employee"}],
    }
    song_id = resident_id_number("130602", date(1968, 3, 14), 123, male=False)
    resident = {"system": systems.RESIDENT_ID, "value": song_id}

    at_huailai = patient_body("PKUPH-HL", "HL-9", **details)
    at_huailai["identifier"].append(resident)
    at_baoding = patient_body("BCH-BD", "BD-9")
    at_baoding["identifier"].append(resident)

    first = client.post("/fhir/r4/Patient", headers=readers.huailai, json=at_huailai)
    second = client.post("/fhir/r4/Patient", headers=readers.baoding, json=at_baoding)

    created = fhir_json(first, 201)
    again = fhir_json(second, 201)
    assert_valid(created)
    assert first.headers["location"].endswith(f"/fhir/r4/Patient/{created['id']}")
    assert second.headers["location"] == first.headers["location"]
    assert first.headers["x-yilian-link-outcome"] == "new_person"
    assert second.headers["x-yilian-link-outcome"] == "resident_id"
    assert created["name"][0]["text"] == "宋秀兰"
    assert identifiers(created)[systems.RESIDENT_ID] == song_id
    assert {"url": systems.INSURANCE_SCHEME, "valueCode": "employee"} in created["extension"]
    assert set(identifiers(again)) == {
        patient_system(network.huailai), patient_system(network.baoding), systems.RESIDENT_ID
    }
    record = session.scalars(select(PatientRecord).where(PatientRecord.local_id == "HL-9")).one()
    assert (record.phone_hash is not None, record.insured_region_code) == (True, "130602")


def test_registrations_the_index_cannot_take_are_refused_as_operation_outcomes(
    client: TestClient, session: Session, network: Network, readers: Readers
) -> None:
    song_id = resident_id_number("130602", date(1968, 3, 14), 123, male=False)
    bad_digit = song_id[:-1] + ("0" if song_id[-1] != "0" else "1")
    huailai_number = patient_body("PKUPH-HL", "HL-5")["identifier"][0]
    refused = {
        "bad check digit": (422, {**patient_body("PKUPH-HL", "HL-5"), "identifier": [
            huailai_number, {"system": systems.RESIDENT_ID, "value": bad_digit}]}),
        "no patient number": (422, {"resourceType": "Patient", "gender": "male"}),
        "unknown system": (422, {**patient_body("PKUPH-HL", "HL-5"), "identifier": [
            huailai_number, {"system": "urn:oid:1.2.3", "value": "X"}]}),
        "unknown institution": (422, patient_body("NOPE", "1", name=[{"text": "张三"}])),
        "partial birth date": (422, patient_body("PKUPH-HL", "HL-5", birthDate="1975")),
        "another institution": (403, patient_body("BCH-BD", "BD-5", name=[{"text": "张三"}])),
        "not a patient": (400, {"resourceType": "Observation"}),
        "invalid FHIR": (400, patient_body("PKUPH-HL", "HL-5", active="maybe")),
    }
    for case, (status, body) in refused.items():
        outcome = fhir_json(client.post("/fhir/r4/Patient", json=body, headers=readers.huailai),
                            status)
        assert_valid(outcome)
        assert outcome["resourceType"] == "OperationOutcome", case
        if case == "bad check digit":
            text = outcome["issue"][0]["details"]["text"]
            assert "校验码" in text and "check digit" in text
    assert session.scalar(select(PatientRecord.id)) is None


# ---------------------------------------------------------------- $match


def test_match_grades_the_same_resident_id_certain_and_a_homophone_probable(
    client: TestClient, session: Session, network: Network, readers: Readers, zhang: Person
) -> None:
    by_id = match(client, readers.huailai, {
        "resourceType": "Patient",
        "identifier": [{"system": systems.RESIDENT_ID, "value": ZHANG_ID}],
    })
    described = match(client, readers.huailai, {
        "resourceType": "Patient",
        "name": [{"text": "张玮"}],
        "gender": "male",
        "birthDate": BORN.isoformat(),
        "telecom": [{"system": "phone", "value": "138 1234 5678"}],
        "address": [{"text": "怀来县沙城镇东大街12"}],
    })

    assert grades(by_id) == [(str(zhang.id), "certain", 1.0)]
    [(person_id, grade, score)] = grades(described)
    assert person_id == str(zhang.id)
    assert grade in ("probable", "possible") and 0.3 <= score < 1.0
    assert described["entry"][0]["fullUrl"].endswith(f"/fhir/r4/Patient/{zhang.id}")
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.match")).first()
    assert row is not None and str(zhang.id) in row.detail


def test_match_respects_only_certain_matches_count_and_what_the_caller_may_see(
    client: TestClient, session: Session, settings: Settings, network: Network,
    readers: Readers, zhang: Person,
) -> None:
    other = register(session, settings, network.huailai, "HL-0002", name="李娜", sex="female",
                     birth_date=date(1990, 2, 1))
    session.commit()
    both = {
        "resourceType": "Patient",
        "identifier": [{"system": systems.RESIDENT_ID, "value": ZHANG_ID},
                       {"system": patient_system(network.huailai), "value": "HL-0002"},
                       {"system": "urn:oid:1.2.3", "value": "ignored"}],
        "name": [{"text": "张玮"}],
        "birthDate": BORN.isoformat(),
    }
    homophone = {"resourceType": "Patient", "name": [{"text": "张玮"}], "gender": "male",
                 "birthDate": BORN.isoformat(),
                 "telecom": [{"system": "phone", "value": ZHANG_PHONE}]}

    every = match(client, readers.huailai, both)
    first_only = match(client, readers.huailai, both, count=1)
    only_certain = match(client, readers.huailai, homophone, only_certain=True)
    elsewhere = match(client, readers.baoding, both)
    bare = fhir_json(client.post("/fhir/r4/Patient/$match", json=homophone,
                                 headers=readers.huailai))

    certain = sorted([str(zhang.id), str(other.person.id)], key=int)
    assert [(p, g) for p, g, _ in grades(every)] == [(p, "certain") for p in certain]
    assert every["entry"][-1]["search"]["mode"] == "outcome"  # the unknown system, named
    assert [p for p, _, _ in grades(first_only)] == certain[:1]
    assert (only_certain["total"], grades(only_certain)) == (0, [])
    assert grades(elsewhere) == []
    assert [p for p, _, _ in grades(bare)] == [str(zhang.id)]
    too_little = client.post("/fhir/r4/Patient/$match", headers=readers.huailai,
                             json={"resourceType": "Patient", "gender": "male"})
    assert fhir_json(too_little, 400)["issue"][0]["code"] == "invalid"


def test_metadata_declares_patient_create_search_parameters_and_match(
    client: TestClient,
) -> None:
    statement = fhir_json(client.get("/fhir/r4/metadata"))
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")

    assert [i["code"] for i in patient["interaction"]] == ["read", "search-type", "create"]
    assert {p["name"] for p in patient["searchParam"]} >= {
        "identifier", "name", "family", "birthdate", "gender", "phone"
    }
    assert patient["operation"] == [{
        "name": "match",
        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match",
        "documentation": patient["operation"][0]["documentation"],
    }]
    assert systems.INSURED_REGION in patient["documentation"]


def test_names_split_at_the_surname_and_phones_keep_their_last_four_digits() -> None:
    assert split_name("欧阳娜娜") == ("欧阳", "娜娜")
    assert split_name("单田芳") == ("单", "田芳")
    assert split_name("阿卜杜热合曼") is None  # a transliteration: no surname to split off
    assert human_names("吕布")[1]["text"] == "Lv Bu"
    assert human_names("Zhang Wei") == [{"use": "official", "text": "Zhang Wei"}]
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("03135123456") == "031****3456"  # 11 digits: read like a mobile
    assert mask_phone("5123456") == "***3456"


def test_match_foretells_what_registration_then_does(
    client: TestClient, session: Session, settings: Settings, network: Network,
    readers: Readers,
) -> None:
    """$match and online registration agree: a probable or certain top match is the person
    the record then joins, and no such match means the record becomes a new person."""
    from yilian.patients import synthetic

    institutions = {"PKUPH-HL": network.huailai, "BCH-BD": network.baoding}
    records = synthetic.generate(120, sources=tuple(institutions), seed=4)
    for record in records:
        described: dict[str, Any] = {"resourceType": "Patient"}
        if record.name:
            described["name"] = [{"text": record.name}]
        if record.sex:
            described["gender"] = record.sex
        if record.birth_date:
            described["birthDate"] = record.birth_date.isoformat()
        if record.phone:
            described["telecom"] = [{"system": "phone", "value": record.phone}]
        if record.address:
            described["address"] = [{"text": record.address}]
        if record.id_number:
            described["identifier"] = [{"system": systems.RESIDENT_ID, "value": record.id_number}]
        found = [g for g in grades(match(client, readers.root, described, count=1))
                 if g[1] in ("certain", "probable")]
        made = register(session, settings, institutions[record.source], record.local_id,
                        name=record.name, sex=record.sex or "unknown",
                        birth_date=record.birth_date, id_number=record.id_number,
                        phone=record.phone, address=record.address or "")
        session.commit()
        if found:
            assert str(made.person.id) == found[0][0], record.record_id
        else:
            assert made.outcome.value == "new_person", record.record_id


def test_search_by_post_keeps_the_resident_id_out_of_the_url(
    client: TestClient, readers: Readers, zhang: Person,
) -> None:
    response = client.post(
        "/fhir/r4/Patient/_search",
        data={"identifier": f"{systems.RESIDENT_ID}|{ZHANG_ID}", "_count": "5"},
        headers=readers.huailai,
    )
    bundle = fhir_json(response)
    assert_valid(bundle)
    assert entry_ids(bundle) == [str(zhang.id)]
    assert ZHANG_ID not in str(response.url)
    # The same rules as GET: a clinician elsewhere finds nobody.
    elsewhere = fhir_json(client.post(
        "/fhir/r4/Patient/_search", data={"identifier": f"{systems.RESIDENT_ID}|{ZHANG_ID}"},
        headers=readers.baoding,
    ))
    assert elsewhere["total"] == 0
