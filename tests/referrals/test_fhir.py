"""Referrals through FHIR: ServiceRequest create/read/search, Task read, create and update
under the same transition rules as the REST API."""

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
    assert types["Task"] == ["read", "search-type", "create", "update"]
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


def _draft(client: TestClient, world: World) -> dict[str, object]:
    posted = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "priority": "routine", "subject": {"reference": f"Patient/{world.person_id}"},
        "performer": [{"reference": f"Organization/{world.tertiary_id}"}],
        "reasonCode": [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                    "code": "I20.9", "display": "心绞痛"}]}],
        "note": [{"text": "劳力性胸痛 3 个月，请心内科评估"}],
    }
    made = client.post(f"{FHIR}/ServiceRequest", json=posted, headers=world.county | JSON)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _task_for(world: World, request_id: object, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "resourceType": "Task", "status": "requested", "intent": "order",
        "focus": {"reference": f"ServiceRequest/{request_id}"},
        "for": {"reference": f"Patient/{world.person_id}"},
        "owner": {"reference": f"Organization/{world.tertiary_id}"},
    }
    body.update(changes)
    return body


def test_posting_a_task_for_a_draft_request_sends_it_and_a_second_task_is_a_conflict(
    client: TestClient, world: World
) -> None:
    draft = _draft(client, world)
    rid = draft["id"]
    # Nothing is asked of the receiving hospital yet.
    assert client.get(f"{FHIR}/Task", params={"owner": f"Organization/{world.tertiary_id}",
                                              "status": "requested"},
                      headers=world.beijing).json()["total"] == 0

    # Bad Tasks are refused with a bilingual reason, and the draft stays a draft.
    refusals = [
        (_task_for(world, rid, status="accepted"), 422, "task_start_status"),
        ({**_task_for(world, rid), "focus": None}, 422, "task_request_required"),
        (_task_for(world, rid, basedOn=[{"reference": "ServiceRequest/999999"}]), 422,
         "task_request_ambiguous"),
        (_task_for(world, rid, owner={"reference": f"Organization/{world.township_id}"}), 422,
         "task_other_owner"),
        (_task_for(world, 999999), 404, None),
    ]
    for body, status, code in refusals:
        refused = client.post(f"{FHIR}/Task", json={k: v for k, v in body.items() if v},
                              headers=world.county | JSON)
        assert refused.status_code == status, (body, refused.text)
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        if code:
            assert outcome["issue"][0]["diagnostics"] == code
            zh, en = outcome["issue"][0]["details"]["text"].split(" / ", 1)
            assert zh and en and zh != en
    # Only the referring side starts the workflow: to the receiver a draft does not exist.
    assert client.post(f"{FHIR}/Task", json=_task_for(world, rid),
                       headers=world.beijing | JSON).status_code == 404
    assert client.get(f"{FHIR}/ServiceRequest/{rid}",
                      headers=world.county).json()["status"] == "draft"

    made = client.post(f"{FHIR}/Task", json=_task_for(world, rid), headers=world.county | JSON)
    assert made.status_code == 201, made.text
    started = made.json()
    validated(started)
    assert made.headers["Location"].endswith(f"/fhir/r4/Task/{rid}")
    assert started["id"] == rid and started["status"] == "requested"
    assert started["focus"]["reference"] == f"ServiceRequest/{rid}"
    assert started["restriction"]["period"]["end"]  # the response clock runs
    # Now the receiving hospital has it to answer, and its ServiceRequest is active.
    incoming = client.get(f"{FHIR}/Task", params={"owner": f"Organization/{world.tertiary_id}",
                                                  "status": "requested"},
                          headers=world.beijing).json()
    assert [e["resource"]["id"] for e in incoming["entry"]] == [rid]
    assert client.get(f"{FHIR}/ServiceRequest/{rid}",
                      headers=world.beijing).json()["status"] == "active"

    # The request has its Task: a second one, by focus or basedOn, is a 409 naming it.
    for again in (_task_for(world, rid),
                  {**_task_for(world, rid), "focus": None,
                   "basedOn": [{"reference": f"ServiceRequest/{rid}"}]}):
        conflict = client.post(f"{FHIR}/Task", json={k: v for k, v in again.items() if v},
                               headers=world.county | JSON)
        assert conflict.status_code == 409, conflict.text
        issue = conflict.json()["issue"][0]
        assert issue["diagnostics"] == "task_exists" and f"Task/{rid}" in issue["details"]["text"]
    # The one workflow goes on through Task update, as before.
    accepted = client.put(f"{FHIR}/Task/{rid}", json={**started, "status": "accepted"},
                          headers=world.beijing | JSON)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
