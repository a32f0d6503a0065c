"""FHIR Coverage, Claim and ClaimResponse, validated against fhir.resources R4B."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverage import Coverage
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.settlement.setup import build, settle_body
from yilian.config import Settings

OURS = "https://yilian.example.org/fhir/CodeSystem/settlement-adjudication"


def _codes(adjudications: list[dict[str, object]]) -> dict[str, float]:
    return {a["category"]["coding"][0]["code"]: a["amount"]["value"]  # type: ignore[index]
            for a in adjudications}


def test_coverage_claim_and_claim_response(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    settled = client.post("/api/v1/settlement/settlements", json=settle_body(net, "FHIR-0001"),
                          headers=clerk).json()
    coverage = client.get(f"/fhir/r4/Coverage/{net.person_id}", headers=clerk).json()
    Coverage.model_validate(coverage)
    assert coverage["beneficiary"]["reference"] == f"Patient/{net.person_id}"
    claim = client.get(f"/fhir/r4/Claim/{settled['id']}", headers=clerk).json()
    assert claim["use"] == "claim" and claim["total"]["value"] == 1250.0
    answer = client.get(f"/fhir/r4/ClaimResponse/{settled['id']}", headers=clerk).json()
    ClaimResponse.model_validate(answer)
    assert _codes(answer["total"]) == {"submitted": 1250.0, "eligible": 888.0,
                                       "deductible": 500.0, "copay": 939.6, "benefit": 310.4}
    heparin = _codes(answer["item"][1]["adjudication"])
    assert heparin == {"submitted": 300.0, "eligible": 238.0, "self-pay-first": 42.0,
                       "over-limit": 20.0, "fully-self-paid": 0.0}
    assert answer["item"][1]["adjudication"][3]["category"]["coding"][0]["system"] == OURS

    # Predetermination: the estimate, nothing stored.
    planned = {
        "resourceType": "Claim", "status": "active", "use": "predetermination",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "institutional"}]},
        "patient": {"reference": f"Patient/{net.person_id}"}, "created": "2026-06-01",
        "provider": {"reference": f"Organization/{net.beijing_id}"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": {"reference": f"Coverage/{net.person_id}"}}],
        "item": [{"sequence": 1, "productOrService": {"coding": [{"code": "330100001"}]},
                  "quantity": {"value": 30}, "unitPrice": {"value": 1200, "currency": "CNY"}}],
    }
    estimate = client.post("/fhir/r4/Claim", json=planned,
                           headers={**bearer(client, net.patient),
                                    "Content-Type": "application/fhir+json"})
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["use"] == "predetermination"
    # A second admission this year: level-3 deductible 500; (36,000 − 500) × 65 %.
    assert _codes(estimate.json()["total"])["benefit"] == 23075.0
    refused = client.post("/fhir/r4/Claim", json={**planned, "use": "claim"}, headers=clerk)
    assert refused.status_code == 422
    metadata = client.get("/fhir/r4/metadata").json()
    types = {r["type"] for r in metadata["rest"][0]["resource"]}
    assert {"Coverage", "Claim", "ClaimResponse"} <= types
