"""FHIR Coverage, Claim and ClaimResponse, validated against fhir.resources R4B."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.coverage import Coverage
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.settlement.setup import SONG_LINES, build, settle_body
from yilian.config import Settings

OURS = "https://yilian.example.org/fhir/CodeSystem/settlement-adjudication"


def _problem(answer: Any) -> str:
    """The error code of an OperationOutcome answer."""
    return str(answer.json()["issue"][0]["diagnostics"])


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
    refused = client.post("/fhir/r4/Claim", json={**planned, "use": "preauthorization"},
                          headers=clerk)
    assert refused.status_code == 422 and _problem(refused) == "claim_use"
    metadata = client.get("/fhir/r4/metadata").json()
    types = {r["type"] for r in metadata["rest"][0]["resource"]}
    assert {"Coverage", "Claim", "ClaimResponse"} <= types


def _claim(net: Any, key: str | None) -> dict[str, Any]:
    """Song's bill as a FHIR Claim with use=claim (the identifier is the idempotency key)."""
    claim: dict[str, Any] = {
        "resourceType": "Claim", "status": "active", "use": "claim",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "institutional"}]},
        "patient": {"reference": f"Patient/{net.person_id}"}, "created": "2026-05-20",
        "provider": {"reference": f"Organization/{net.huailai_id}"},
        "billablePeriod": {"start": "2026-05-10", "end": "2026-05-20"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": {"reference": f"Coverage/{net.person_id}"}}],
        "item": [{"sequence": n, "productOrService": {"coding": [{"code": line["code"]}]},
                  "quantity": {"value": line["qty"]},
                  "unitPrice": {"value": float(line["unit_price"]), "currency": "CNY"}}
                 for n, line in enumerate(SONG_LINES, start=1)],
    }
    if key is not None:
        claim["identifier"] = [{"system": "https://his.example.org/bill", "value": key}]
    return claim


FHIR_HEADERS = {"Content-Type": "application/fhir+json"}


def test_a_claim_with_use_claim_settles_the_bill_once_and_answers_the_slip(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = {**bearer(client, net.clerk), **FHIR_HEADERS}
    first = client.post("/fhir/r4/Claim", json=_claim(net, "FHIR-CLM-0001"), headers=clerk)
    assert first.status_code == 201, first.text
    answer = first.json()
    ClaimResponse.model_validate(answer)
    # The same slip as the REST settlement of Song's bill (setup.py): 310.40 pooled.
    assert _codes(answer["total"]) == {"submitted": 1250.0, "eligible": 888.0,
                                       "deductible": 500.0, "copay": 939.6, "benefit": 310.4}
    assert (answer["use"], answer["request"]["reference"]) == ("claim", f"Claim/{answer['id']}")
    assert first.headers["Location"].endswith(f"/fhir/r4/ClaimResponse/{answer['id']}")
    stored = client.get(f"/api/v1/settlement/settlements/{answer['id']}", headers=clerk).json()
    assert stored["idempotency_key"] == "FHIR-CLM-0001" and stored["slip"]["hifp_pay"] == "310.40"

    again = client.post("/fhir/r4/Claim", json=_claim(net, "FHIR-CLM-0001"), headers=clerk)
    assert (again.status_code, again.json()["id"]) == (200, answer["id"])
    listed = client.get("/api/v1/settlement/settlements", headers=clerk).json()
    assert len(listed) == 1  # never a second payment

    unnamed = client.post("/fhir/r4/Claim", json=_claim(net, None), headers=clerk)
    assert unnamed.status_code == 422 and _problem(unnamed) == "claim_invalid"
    assert "identifier.value" in unnamed.json()["issue"][0]["details"]["text"]
    patient = {**bearer(client, net.patient), **FHIR_HEADERS}
    assert client.post("/fhir/r4/Claim", json=_claim(net, "FHIR-CLM-0002"),
                       headers=patient).status_code == 403


def _total(client: TestClient, query: str, headers: dict[str, str]) -> int:
    answer = client.get(f"/fhir/r4/{query}", headers=headers)
    assert answer.status_code == 200, (query, answer.text)
    return int(answer.json()["total"])


def test_search_coverage_claims_and_slips_as_each_reader_may_see_them(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    ids = [client.post("/api/v1/settlement/settlements", json=settle_body(net, f"FHS-{n:05d}"),
                       headers=clerk).json()["id"] for n in range(2)]
    client.post(f"/api/v1/settlement/settlements/{ids[0]}/reversal", headers=clerk,
                json={"reason": "billing_error"})
    song = f"Patient/{net.person_id}"

    assert _total(client, f"Claim?patient={song}", clerk) == 2
    assert _total(client, f"Claim?patient={song}&status=cancelled", clerk) == 1
    assert _total(client, f"Claim?patient={song}&use=claim&status=active", clerk) == 1
    assert _total(client, f"Claim?patient={song}&use=predetermination", clerk) == 0
    assert _total(client, "Claim?created=ge2026-01-01", clerk) == 2  # settled today
    assert _total(client, "Claim?created=lt2026-01-01", clerk) == 0
    assert _total(client, "Claim?patient=Patient/999999", clerk) == 0
    slips = client.get(f"/fhir/r4/ClaimResponse?patient={song}&status=cancelled",
                       headers=clerk).json()
    assert [entry["resource"]["id"] for entry in slips["entry"]] == [str(ids[0])]
    assert slips["entry"][0]["resource"]["status"] == "cancelled"

    coverage = client.get(f"/fhir/r4/Coverage?patient={song}", headers=clerk).json()
    assert coverage["total"] == 1
    Coverage.model_validate(coverage["entry"][0]["resource"])
    assert _total(client, f"Coverage?beneficiary={net.person_id}", clerk) == 1
    unbounded = client.get("/fhir/r4/Coverage", headers=clerk)
    assert unbounded.status_code == 400 and unbounded.json()["resourceType"] == (
        "OperationOutcome")
    assert client.get("/fhir/r4/Claim?colour=red", headers=clerk).status_code == 400

    # Beijing's clerk sees neither Song nor her Huailai bills; Song sees her own.
    beijing = bearer(client, net.beijing_clerk)
    assert _total(client, f"Coverage?patient={song}", beijing) == 0
    assert _total(client, f"Claim?patient={song}", beijing) == 0
    assert _total(client, "ClaimResponse", bearer(client, net.patient)) == 2
