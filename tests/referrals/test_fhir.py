"""Referrals through FHIR: ServiceRequest create/read/search, Task read and update under the
same transition rules as the REST API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.referrals.conftest import World
from yilian.fhir.bundle import validated

FHIR = "/fhir/r4"
JSON = {"Content-Type": "application/fhir+json"}


def test_a_referral_made_as_a_service_request_moves_through_its_task(
    client: TestClient, world: World
) -> None:
    posted = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "priority": "stat",
        "subject": {"reference": f"Patient/{world.person_id}"},
        "performer": [{"reference": f"Organization/{world.tertiary_id}"},
                      {"reference": f"Organization/dept-{world.cardiology_id}"}],
        "code": {"coding": [{"system": "https://yilian.example.cn/fhir/CodeSystem/referral-kind",
                             "code": "inpatient"}]},
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                    "code": "I63.9", "display": "脑梗死"}]}],
        "extension": [{"url": "https://yilian.example.cn/fhir/StructureDefinition/green-channel",
                       "valueCode": "stroke"}],
        "note": [{"text": "急性缺血性卒中，发病 2 小时，拟静脉溶栓"}],
    }
    made = client.post(f"{FHIR}/ServiceRequest", json=posted, headers=world.county | JSON)
    assert made.status_code == 201, made.text
    request = made.json()
    rid = request["id"]
    assert request["status"] == "active" and request["priority"] == "stat"
    assert request["reasonCode"][0]["coding"][0]["code"] == "I63.9"

    found = client.get(f"{FHIR}/Task", params={"owner": f"Organization/{world.tertiary_id}",
                                               "status": "requested"},
                       headers=world.beijing).json()
    assert found["total"] == 1
    current = found["entry"][0]["resource"]
    assert current["focus"]["reference"] == f"ServiceRequest/{rid}"

    # Skipping ahead is refused exactly as in the REST API.
    jump = client.put(f"{FHIR}/Task/{rid}", json={**current, "status": "completed"},
                      headers=world.beijing | JSON)
    assert jump.status_code == 409
    assert jump.json()["resourceType"] == "OperationOutcome"

    accepted = client.put(f"{FHIR}/Task/{rid}", json={**current, "status": "accepted"},
                          headers=world.beijing | JSON)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    # The version the client held is now stale: a second update on it is a 409.
    stale = client.put(f"{FHIR}/Task/{rid}", json={**current, "status": "cancelled"},
                       headers=world.county | JSON)
    assert stale.status_code == 409
    booked = client.put(f"{FHIR}/Task/{rid}", headers=world.beijing | JSON, json={
        **accepted.json(), "status": "ready",
        "output": [{"type": {"text": "appointment"},
                    "valueReference": {"reference": "Appointment/17"}}]})
    assert booked.status_code == 200, booked.text
    assert booked.json()["output"][0]["valueReference"]["reference"] == "Appointment/17"

    read = client.get(f"{FHIR}/ServiceRequest/{rid}", headers=world.county).json()
    validated(read)
    assert read["status"] == "active"
    assert client.get(f"{FHIR}/Task/{rid}", headers=world.township).status_code == 404
    statement = client.get(f"{FHIR}/metadata").json()
    types = {r["type"]: [i["code"] for i in r["interaction"]]
             for r in statement["rest"][0]["resource"]}
    assert types["Task"] == ["read", "search-type", "update"]
    assert types["ServiceRequest"] == ["read", "search-type", "create", "update"]

    # A sent referral's request no longer changes; a draft does, and is sent by "active".
    changed = client.put(f"{FHIR}/ServiceRequest/{rid}", json={**posted, "id": rid},
                         headers=world.county | JSON)
    assert changed.status_code == 409 and changed.json()["resourceType"] == "OperationOutcome"
    draft = client.post(f"{FHIR}/ServiceRequest", json={**posted, "status": "draft"},
                        headers=world.county | JSON).json()
    assert draft["status"] == "draft"
    reason = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "G45.9",
                           "display": "短暂性脑缺血发作"}]}]
    sent = client.put(f"{FHIR}/ServiceRequest/{draft['id']}", headers=world.county | JSON,
                      json={**posted, "id": draft["id"], "reasonCode": reason})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "active"
    assert sent.json()["reasonCode"][0]["coding"][0]["code"] == "G45.9"
