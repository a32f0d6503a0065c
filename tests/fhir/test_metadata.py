"""The CapabilityStatement, authentication and errors as OperationOutcome."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fhir.conftest import Network, assert_valid, fhir_json


def test_metadata_is_public_and_describes_every_resource(client: TestClient) -> None:
    statement = fhir_json(client.get("/fhir/r4/metadata"))

    assert_valid(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert "json" in statement["format"]
    resources = {entry["type"]: entry for entry in statement["rest"][0]["resource"]}
    settlement = {"Coverage", "Claim", "ClaimResponse"}
    assert set(resources) == {
        "Organization", "Location", "Practitioner", "PractitionerRole", "AuditEvent", "Patient",
        "ServiceRequest", "Task", "DiagnosticReport", "Observation", "ImagingStudy",
        "Schedule", "Slot", "Appointment", *settlement, "Encounter", "Procedure",
    }
    for name, entry in resources.items():
        codes = [i["code"] for i in entry["interaction"]]
        assert codes[:2] == ["read", "search-type"], name
    task_codes = [i["code"] for i in resources["Task"]["interaction"]]
    assert task_codes == ["read", "search-type", "create", "update"]
    assert [i["code"] for i in resources["Claim"]["interaction"]] == [
        "read", "search-type", "create"]  # create: use=claim settles, predetermination estimates
    assert {p["name"] for p in resources["Coverage"]["searchParam"]} == {"patient", "beneficiary"}
    for name in ("Claim", "ClaimResponse"):
        assert {p["name"] for p in resources[name]["searchParam"]} == {
            "_id", "patient", "created", "use", "status"}
    for name in ("Encounter", "Procedure"):  # analytics intake
        assert [i["code"] for i in resources[name]["interaction"]] == [
            "read", "search-type", "create"]
    organization_params = {p["name"] for p in resources["Organization"]["searchParam"]}
    assert {"_id", "name", "identifier", "type", "partof", "address-state"} <= organization_params
    assert "handling=lenient" in statement["rest"][0]["documentation"]


def test_reading_without_signing_in_is_401_operation_outcome(
    client: TestClient, network: Network
) -> None:
    outcome = fhir_json(client.get(f"/fhir/r4/Organization/{network.pkuph.id}"), 401)

    assert_valid(outcome)
    assert outcome["issue"][0]["code"] == "login"
    assert fhir_json(client.get("/fhir/r4/Organization"), 401)["resourceType"] == (
        "OperationOutcome"
    )


def test_unknown_ids_are_404_operation_outcome(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    for path in (
        "Organization/999999", "Organization/dept-999999", "Organization/abc",
        "Location/999999", "Practitioner/dept-1", "PractitionerRole/home-999999",
        "PractitionerRole/99999999999999999999", "Patient/1",
    ):
        outcome = fhir_json(client.get(f"/fhir/r4/{path}", headers=reader), 404)
        assert_valid(outcome)
        assert outcome["issue"][0]["code"] == "not-found", path


def test_unknown_search_parameter_is_400_unless_lenient_handling_is_asked(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    strict = client.get("/fhir/r4/Organization?colour=red", headers=reader)
    lenient = client.get(
        "/fhir/r4/Organization?colour=red&name=北京儿童",
        headers={**reader, "Prefer": "handling=lenient"},
    )

    outcome = fhir_json(strict, 400)
    assert_valid(outcome)
    assert outcome["issue"][0]["diagnostics"] == "unknown_search_parameter"
    assert "colour" in outcome["issue"][0]["details"]["text"]
    bundle = fhir_json(lenient)
    assert_valid(bundle)
    assert bundle["total"] == 1
    assert "colour" not in bundle["link"][0]["url"]
    ignored = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "colour" in ignored[0]["resource"]["issue"][0]["details"]["text"]


def test_malformed_search_values_are_400(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    for query in (
        "Organization?name:sounds-like=x",
        "Organization?_count=-1",
        "PractitionerRole?date=2024-02-30",
        "PractitionerRole?date=ap2024",
        "PractitionerRole?active=maybe",
        "Organization?_format=xml",
    ):
        outcome = fhir_json(client.get(f"/fhir/r4/{query}", headers=reader), 400)
        assert outcome["resourceType"] == "OperationOutcome", query


def test_fhir_resources_cannot_be_written(
    client: TestClient, network: Network, reader: dict[str, str]
) -> None:
    path = f"/fhir/r4/Organization/{network.pkuph.id}"

    for method in ("PUT", "DELETE"):
        outcome = fhir_json(client.request(method, path, headers=reader, json={}), 405)
        assert outcome["resourceType"] == "OperationOutcome"
