"""Results through the FHIR facade: a lab DiagnosticReport posted with contained
Observations, a transaction Bundle that fails whole, and search by patient, LOINC or
catalogue code, date and performer."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.results.conftest import Network, beijing_date, days_ago
from yilian.results.fhir import ACCESSION, CATALOGUE, DICOM_UID, LOINC
from yilian.results.models import DiagnosticReport

FHIR = "/fhir/r4"
JSON = {"Content-Type": "application/fhir+json"}


def lipids(network: Network, *, accession: str = "LAB-9") -> dict[str, Any]:
    return {
        "resourceType": "DiagnosticReport", "status": "final",
        "identifier": [{"system": ACCESSION, "value": accession}],
        "code": {"coding": [{"system": LOINC, "code": "57698-3"}]},  # → JJJ-L008
        "subject": {"reference": f"Patient/{network.song.id}"},
        "performer": [{"reference": f"Organization/{network.campus.id}"}],
        "effectiveDateTime": days_ago(5).isoformat(),
        "contained": [{"resourceType": "Observation", "id": "chol", "status": "final",
                       "code": {"coding": [{"system": LOINC, "code": "2093-3",
                                            "display": "总胆固醇"}]},
                       "valueQuantity": {"value": 5.9, "unit": "mmol/L"},
                       "interpretation": [{"coding": [{"code": "H"}]}],
                       "referenceRange": [{"text": "<5.2"}]}],
        "result": [{"reference": "#chol"}],
    }


def test_fhir_intake_and_search(client: TestClient, session: Session, network: Network) -> None:
    statement = client.get(f"{FHIR}/metadata").json()
    declared = {entry["type"] for entry in statement["rest"][0]["resource"]}
    assert {"DiagnosticReport", "Observation", "ImagingStudy"} <= declared
    lis = {**bearer(client, "hl_lis"), **JSON}
    created = client.post(f"{FHIR}/DiagnosticReport", json=lipids(network), headers=lis)
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["code"]["coding"][0] == {"system": CATALOGUE, "code": "JJJ-L008",
                                           "display": "血脂四项"}

    ct = {"resourceType": "DiagnosticReport", "status": "final",
          "code": {"coding": [{"system": CATALOGUE, "code": "JJJ-E010"}]},
          "subject": {"reference": f"Patient/{network.song.id}"},
          "performer": [{"reference": f"Organization/{network.campus.id}"}],
          "effectiveDateTime": days_ago(3).isoformat(), "conclusion": "未见异常",
          "imagingStudy": [{"reference": "urn:uuid:study-1"}]}
    study = {"resourceType": "ImagingStudy", "status": "available",
             "identifier": [{"system": DICOM_UID, "value": "urn:oid:1.2.156.7"}],
             "subject": {"reference": f"Patient/{network.song.id}"}}
    bad = {**lipids(network, accession="LAB-10"), "code": {"coding": [
        {"system": CATALOGUE, "code": "NOPE"}]}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:study-1", "resource": study, "request": {"method": "POST",
                                                                        "url": "ImagingStudy"}},
        {"resource": ct, "request": {"method": "POST", "url": "DiagnosticReport"}},
        {"resource": bad, "request": {"method": "POST", "url": "DiagnosticReport"}}]}
    refused = client.post(FHIR, json=bundle, headers=lis)
    assert refused.status_code == 404 and refused.json()["resourceType"] == "OperationOutcome"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(DiagnosticReport)) == 1
    bundle["entry"] = bundle["entry"][:2]
    done = client.post(FHIR, json=bundle, headers=lis)
    assert done.status_code == 200, done.text
    assert done.json()["entry"][1]["response"]["status"] == "201 Created"

    doctor = bearer(client, "pk_doctor")
    patient = f"Patient/{network.song.id}"
    found = client.get(f"{FHIR}/DiagnosticReport", headers=doctor,
                       params={"patient": patient, "code": f"{LOINC}|57698-3"}).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["id"] == report["id"]
    recent = client.get(f"{FHIR}/DiagnosticReport", headers=doctor, params={
        "patient": patient, "date": f"ge{beijing_date(days_ago(4)).isoformat()}",
        "performer": f"Organization/{network.campus.id}"}).json()
    assert [e["resource"]["code"]["coding"][0]["code"] for e in recent["entry"]] == ["JJJ-E010"]
    values = client.get(f"{FHIR}/Observation", headers=doctor,
                        params={"patient": patient, "code": "2093-3"}).json()
    assert values["entry"][0]["resource"]["valueQuantity"]["value"] == 5.9
    images = client.get(f"{FHIR}/ImagingStudy", headers=doctor, params={"patient": patient})
    assert images.json()["entry"][0]["resource"]["identifier"][0]["value"] == "urn:oid:1.2.156.7"
    # Baoding has not been shared her: nothing found, and a read is a 404.
    baoding = bearer(client, "bd_doctor")
    assert client.get(f"{FHIR}/DiagnosticReport", headers=baoding,
                      params={"patient": patient}).json()["total"] == 0
    assert client.get(f"{FHIR}/DiagnosticReport/{report['id']}",
                      headers=baoding).status_code == 404
