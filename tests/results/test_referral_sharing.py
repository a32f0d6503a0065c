"""A referral opens the patient's shared results to the hospital that accepts it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.results.conftest import Network, days_ago
from tests.results.test_recognition import CT, send


def test_accepting_a_referral_shows_the_referrers_results_on_the_receivers_pages(
    client: TestClient, session: Session, network: Network
) -> None:
    send(session, network, CT, days_ago(12))
    session.commit()
    county, baoding = bearer(client, "hl_doctor"), bearer(client, "bd_doctor")
    timeline = f"/results/persons/{network.song.id}/timeline"
    assert client.get(timeline, headers=baoding).status_code == 404

    made = client.post("/api/v1/referrals", headers=county, json={
        "person_id": network.song.id, "target_institution_id": network.baoding.id,
        "kind": "outpatient", "urgency": "routine", "diagnosis_code": "J18.9",
        "diagnosis_text": "肺炎", "reason": "胸部 CT 示斑片影，请上级医院会诊",
        "consent_recorded": True})
    assert made.status_code == 201, made.text
    rid = made.json()["id"]
    # Sent but not yet accepted: the receiving hospital still cannot open her results.
    assert client.get(timeline, headers=baoding).status_code == 404
    for step in ("receive", "accept"):
        assert client.post(f"/api/v1/referrals/{rid}/{step}", json={},
                           headers=baoding).status_code == 200

    shared = client.get(timeline, headers=baoding)
    assert shared.status_code == 200
    assert "胸部CT平扫" in shared.text and "北京大学人民医院怀来院区" in shared.text
    # Both the referral page and the patient page pull the timeline in.
    assert f'hx-get="{timeline}"' in client.get(f"/referrals/{rid}", headers=baoding).text
    assert f'hx-get="{timeline}"' in client.get(f"/patients/{network.song.id}",
                                                headers=baoding).text
