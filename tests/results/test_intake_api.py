"""Results arrive as HL7 v2 ORU^R01 from the Huailai campus and are checked over the API at
PKU People's Hospital once the patient is shared with it: AA, AE and AR answers; 404 before
the share; every read audited."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.results.conftest import Network, days_ago
from tests.results.oru import blood_count, chest_ct, oru
from yilian.audit.models import AuditEvent
from yilian.patients import service as patients
from yilian.patients.models import SharingReason
from yilian.patients.schemas import ShareCreate
from yilian.results.models import DiagnosticReport, ImagingStudy, Observation

HL7 = "/hl7/v2"
CHECK = "/api/v1/recognition/check"


def msa(response: object) -> list[str]:
    """MSA-1, MSA-2 and the ERR-8 text of an ACK."""
    text = response.text  # type: ignore[attr-defined]
    fields = {line.split("|")[0]: line.split("|") for line in text.split("\r") if line}
    return [fields["MSA"][1], fields["MSA"][2], fields.get("ERR", [""] * 9)[8]]


def test_oru_results_are_stored_answered_and_shared(
    client: TestClient, session: Session, network: Network
) -> None:
    lis = {**bearer(client, "hl_lis"), "Content-Type": "application/hl7-v2"}
    body = oru("LIS0001", chest_ct(days_ago(12)), blood_count(days_ago(2)))
    assert msa(client.post(HL7, content=body.encode(), headers=lis))[:2] == ["AA", "LIS0001"]
    assert session.scalar(select(func.count()).select_from(DiagnosticReport)) == 2
    study = session.scalar(select(ImagingStudy))
    assert study is not None and study.study_uid == "1.2.156.112605.14038.20261119.1"
    assert session.scalar(select(func.count()).select_from(Observation)) == 3

    # AE: an item not in the catalogue, an unknown patient, the same report sent twice;
    # nothing of a refused message is stored.
    unknown_item = oru("LIS0002", chest_ct(days_ago(1), accession="X1", code="NOPE"))
    ack = msa(client.post(HL7, content=unknown_item.encode(), headers=lis))
    assert ack[0] == "AE" and "No recognition catalogue item NOPE" in ack[2]
    ack = msa(client.post(HL7, content=oru("LIS0003", chest_ct(days_ago(1), accession="X2"),
                                           local_id="NOBODY").encode(), headers=lis))
    assert ack[0] == "AE" and "No patient number NOBODY" in ack[2]
    ack = msa(client.post(HL7, content=oru("LIS0004", blood_count(days_ago(1)),
                                           chest_ct(days_ago(12))).encode(), headers=lis))
    assert ack[0] == "AE" and "already exists" in ack[2]
    # AR: no OBR at all.
    ack = msa(client.post(HL7, content=oru("LIS0005").encode(), headers=lis))
    assert ack[0] == "AR" and "OBR" in ack[2]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(DiagnosticReport)) == 2

    # PKU People's Hospital runs the campus, so its doctors see her results at once.
    doctor = bearer(client, "pk_doctor")
    ask = {"person_id": network.song.id, "ordering_institution_id": network.pkuph.id,
           "item_codes": ["JJJ-E010", "JJJ-L001"]}
    answer = client.post(CHECK, json=ask, headers=doctor)
    assert answer.status_code == 200, answer.text
    ct, cbc = answer.json()["items"]
    assert ct["explanation_en"] == "recognisable, 12 days old, valid 30"
    assert ct["recognisable"][0]["conclusion"] == "双肺纹理清晰，未见明显实质性病变"
    assert cbc["explanation_en"] == "recognisable, 2 days old, valid 7"
    report_id = ct["recognisable"][0]["report_id"]
    assert client.get(f"/api/v1/results/{report_id}", headers=doctor).status_code == 200
    # A doctor may not check on behalf of another hospital.
    elsewhere = {**ask, "ordering_institution_id": network.baoding.id}
    assert client.post(CHECK, json=elsewhere, headers=doctor).status_code == 403

    # Baoding sees nothing of her until the campus refers her there; then the CT is held
    # but its 医联体HR mark does not reach Baoding.
    baoding = bearer(client, "bd_doctor")
    at_baoding = {**ask, "ordering_institution_id": network.baoding.id}
    assert client.get(f"/api/v1/results/{report_id}", headers=baoding).status_code == 404
    assert client.post(CHECK, json=at_baoding, headers=baoding).status_code == 404
    patients.share_person(session, None, person=network.song, data=ShareCreate(
        institution_id=network.baoding.id, reason=SharingReason.REFERRAL, source_ref="REF-1"))
    session.commit()
    ct_at_baoding = client.post(CHECK, json=at_baoding, headers=baoding).json()["items"][0]
    assert ct_at_baoding["refusal"] == "scope"
    assert client.get(f"/api/v1/results/{report_id}", headers=baoding).status_code == 200

    # Accepting the CT books its price; a re-test without a reason is refused.
    decision = {"person_id": network.song.id, "ordering_institution_id": network.pkuph.id,
                "item_code": "JJJ-E010"}
    refused = client.post("/api/v1/recognition/decisions",
                          json={**decision, "decision": "retest"}, headers=doctor)
    assert refused.status_code == 422 and refused.json()["message_en"] == (
        "A re-test needs a reason")
    accepted = client.post("/api/v1/recognition/decisions", headers=doctor,
                           json={**decision, "decision": "accepted", "report_id": report_id})
    assert accepted.status_code == 201, accepted.text
    ledger = client.get("/api/v1/recognition/savings", headers=bearer(client, "root")).json()
    assert [(row["item_code"], row["amount"]) for row in ledger] == [("JJJ-E010", "300.00")]

    audited = set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.patient_id == network.song.id)))
    assert {"result.check", "result.read", "hl7.receive"} <= audited
