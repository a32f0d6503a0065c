"""AuditEvent: who may read which events, the mapping, and search."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.audit.trail import Trail
from tests.fhir.conftest import assert_valid, entry_ids, fhir_json
from yilian.audit.models import AuditEvent
from yilian.db import utcnow
from yilian.fhir import systems


def all_ids(client: TestClient, headers: dict[str, str], query: str = "") -> list[str]:
    bundle = fhir_json(client.get(f"/fhir/r4/AuditEvent?_count=200{query}", headers=headers))
    assert bundle["total"] == len(bundle.get("entry", []))
    return entry_ids(bundle)


def test_platform_admin_reads_every_event_newest_first(
    client: TestClient, session: Session, trail: Trail
) -> None:
    ids = all_ids(client, trail.root)

    assert len(ids) == session.scalar(select(func.count(AuditEvent.id)))
    assert ids == sorted(ids, key=int, reverse=True)


def test_hospital_admin_sees_only_events_of_their_institutions(
    client: TestClient, session: Session, trail: Trail
) -> None:
    baoding_ids = all_ids(client, trail.baoding_admin)
    pkuph_ids = all_ids(client, trail.pkuph_admin)

    assert str(trail.patient_read.id) in baoding_ids
    assert str(trail.campus_update.id) not in baoding_ids
    assert str(trail.refused_update.id) not in baoding_ids
    for row in session.scalars(select(AuditEvent).where(AuditEvent.id.in_(map(int, baoding_ids)))):
        assert trail.baoding.id in (row.institution_id, row.actor_institution_id)
    # PKUPH's administrator reads the Huailai campus it runs, and its own refusals
    assert {str(trail.campus_update.id), str(trail.refused_update.id)} <= set(pkuph_ids)
    assert str(trail.patient_read.id) not in pkuph_ids
    outcome = fhir_json(client.get(f"/fhir/r4/AuditEvent/{trail.campus_update.id}",
                                   headers=trail.baoding_admin), 404)
    assert outcome["resourceType"] == "OperationOutcome"


def test_clinician_may_not_read_the_trail(client: TestClient, trail: Trail) -> None:
    search = fhir_json(client.get("/fhir/r4/AuditEvent", headers=trail.baoding_doctor), 403)
    read = fhir_json(client.get(f"/fhir/r4/AuditEvent/{trail.patient_read.id}",
                                headers=trail.baoding_doctor), 403)

    assert search["issue"][0]["code"] == read["issue"][0]["code"] == "forbidden"


def test_patient_read_maps_to_a_read_event_with_agent_and_entities(
    client: TestClient, trail: Trail
) -> None:
    event = fhir_json(client.get(f"/fhir/r4/AuditEvent/{trail.patient_read.id}",
                                 headers=trail.root))

    assert_valid(event)
    assert event["action"] == "R"
    assert event["outcome"] == "0"
    assert event["subtype"][0] == {"system": systems.AUDIT_ACTION, "code": "patient.read"}
    agent = event["agent"][0]
    assert agent["requestor"] is True
    assert agent["who"]["identifier"] == {"system": systems.USERNAME, "value": "bd_doctor"}
    assert agent["network"] == {"address": "10.6.0.8", "type": "2"}
    references = [entity["what"].get("reference") for entity in event["entity"]]
    assert references == [None, "Patient/42", f"Organization/{trail.baoding.id}"]


def test_refusals_and_failed_sign_ins_map_to_outcomes_4_and_8(
    client: TestClient, trail: Trail
) -> None:
    denied = fhir_json(client.get(f"/fhir/r4/AuditEvent/{trail.refused_update.id}",
                                  headers=trail.root))
    client.post("/api/v1/auth/token", data={"username": "root", "password": "wrong-one1"})
    failed = fhir_json(client.get("/fhir/r4/AuditEvent?outcome=8", headers=trail.root))

    assert denied["outcome"] == "4"
    assert denied["outcomeDesc"] == "forbidden"
    assert failed["total"] == 1
    login = failed["entry"][0]["resource"]
    assert login["type"]["code"] == "110114"  # DICOM: user authentication
    assert login["action"] == "E"


def test_search_by_date_agent_entity_and_patient(client: TestClient, trail: Trail) -> None:
    today = utcnow().date()
    window = f"&date=ge{today - timedelta(days=1)}&date=le{today + timedelta(days=1)}"
    department = f"Organization/dept-{trail.huailai_cardiology.id}"

    assert len(all_ids(client, trail.root, window)) == len(all_ids(client, trail.root))
    assert all_ids(client, trail.root, "&date=lt2000-01-01") == []
    assert all_ids(client, trail.root, "&agent=bd_doctor") == [str(trail.patient_read.id)]
    assert all_ids(client, trail.root, "&patient=Patient/42") == [str(trail.patient_read.id)]
    # the department's creation (audited automatically) and the hand-written update
    about_department = all_ids(client, trail.root, f"&entity={department}")
    assert about_department[0] == str(trail.campus_update.id)
    assert len(about_department) == 2
    departments = all_ids(client, trail.root, "&entity-type=department")
    assert len(departments) == 2  # the department's creation, then its update
    assert departments[0] == str(trail.campus_update.id)
    picked = f"&_id={trail.patient_read.id},{trail.refused_update.id}&outcome=4"
    assert all_ids(client, trail.root, picked) == [str(trail.refused_update.id)]


def test_audit_parameters_take_one_value(client: TestClient, trail: Trail) -> None:
    response = client.get("/fhir/r4/AuditEvent?outcome=0,4", headers=trail.root)

    assert fhir_json(response, 400)["issue"][0]["diagnostics"] == "invalid_search_value"


def test_every_audit_event_validates(client: TestClient, trail: Trail) -> None:
    bundle = fhir_json(client.get("/fhir/r4/AuditEvent?_count=200", headers=trail.root))

    assert_valid(bundle)
    for entry in bundle["entry"]:
        assert_valid(entry["resource"])
