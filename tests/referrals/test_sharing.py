"""The patient's records are shared with the receiving hospital for the referral's lifetime:
from acceptance until the referral ends without care (declined, cancelled, failed: at once)
or, once completed, for the follow-up window only."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.referrals.conftest import World, chest_pain_referral
from yilian.audit.models import AuditEvent
from yilian.config import Settings

API = "/api/v1/referrals"


def _accepted(client: TestClient, world: World) -> int:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    assert client.post(f"{API}/{rid}/accept", json={}, headers=world.beijing).status_code == 200
    return int(rid)


def _beijing_sees_patient(client: TestClient, world: World) -> bool:
    answer = client.get(f"/api/v1/patients/{world.person_id}", headers=world.beijing)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def _shares_of(client: TestClient, world: World, rid: int) -> list[dict[str, object]]:
    shares = client.get(f"/api/v1/patients/{world.person_id}/shares",
                        headers=world.county).json()
    return [s for s in shares if s["source_ref"] == f"ServiceRequest/{rid}"]


def test_a_referral_that_ends_without_care_stops_sharing_at_once_and_only_its_own_share(
    client: TestClient, world: World, session: Session
) -> None:
    kept = _accepted(client, world)  # another referral of the same patient, still open
    cancelled, failed = _accepted(client, world), _accepted(client, world)
    assert _beijing_sees_patient(client, world)

    # The referrer withdraws one; the receiving hospital marks another as a no-show.
    assert client.post(f"{API}/{cancelled}/cancel", json={"reason": "家属要求就近治疗"},
                       headers=world.county).status_code == 200
    assert client.post(f"{API}/{failed}/fail", json={"reason": "患者未到院"},
                       headers=world.beijing).status_code == 200
    for rid in (cancelled, failed):
        [share] = _shares_of(client, world, rid)
        assert share["revoked_at"] is not None
    [open_share] = _shares_of(client, world, kept)
    assert open_share["revoked_at"] is None
    assert _beijing_sees_patient(client, world)  # the open referral still shares

    # A decline (never accepted) shares nothing; when the last referral ends, so does sight.
    declined = client.post(API, json=chest_pain_referral(world), headers=world.county).json()
    assert client.post(f"{API}/{declined['id']}/decline", json={"reason": "无床位"},
                       headers=world.beijing).status_code == 200
    assert _shares_of(client, world, declined["id"]) == []
    assert client.post(f"{API}/{kept}/cancel", json={"reason": "病情好转"},
                       headers=world.county).status_code == 200
    assert not _beijing_sees_patient(client, world)
    # The referral itself stays readable to both sides (the patient's records do not).
    assert client.get(f"{API}/{kept}", headers=world.beijing).status_code == 200

    ended = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral.share.end").order_by(AuditEvent.id)).all()
    assert [row.entity_id for row in ended] == [str(cancelled), str(failed), str(kept)]
    assert all(row.patient_id == world.person_id and row.institution_id == world.tertiary_id
               for row in ended)


def test_a_completed_referral_keeps_the_records_shared_for_the_follow_up_window_only(
    client: TestClient, world: World, session: Session, settings: Settings
) -> None:
    rid = _accepted(client, world)
    [lifetime] = _shares_of(client, world, rid)
    granted = datetime.fromisoformat(str(lifetime["granted_at"]))
    assert datetime.fromisoformat(str(lifetime["expires_at"])) - granted >= timedelta(
        days=settings.referral_share_days) - timedelta(minutes=1)
    for action, body in (("arrive", {}),
                         ("complete", {"outcome_summary": "PCI 术后出院",
                                       "follow_up_plan": "1 个月后县医院复查"})):
        assert client.post(f"{API}/{rid}/{action}", json=body,
                           headers=world.beijing).status_code == 200
    done = client.get(f"{API}/{rid}", headers=world.county).json()
    completed_at = datetime.fromisoformat(done["completed_at"])

    shares = _shares_of(client, world, rid)
    assert len(shares) == 2  # the lifetime share, revoked, and the follow-up share after it
    revoked = [s for s in shares if s["revoked_at"] is not None]
    follow_up = [s for s in shares if s["revoked_at"] is None]
    assert [s["id"] for s in revoked] == [lifetime["id"]] and len(follow_up) == 1
    until = datetime.fromisoformat(str(follow_up[0]["expires_at"]))
    window = timedelta(days=settings.referral_follow_up_share_days)
    assert abs(until - (completed_at + window)) < timedelta(seconds=5)
    assert until < datetime.fromisoformat(str(lifetime["expires_at"]))

    # Within the window Beijing still sees the patient and sends them back down.
    assert _beijing_sees_patient(client, world)
    assert client.post(f"{API}/{rid}/refer-down", json={},
                       headers=world.beijing).status_code == 201
    [kept] = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "referral.share.follow_up")).all()
    assert kept.entity_id == str(rid) and kept.patient_id == world.person_id
    assert json.loads(kept.detail)["revoked"] == [lifetime["id"]]

    # Advice is a completion without acceptance: nothing was shared, nothing is kept.
    advised = client.post(API, json=chest_pain_referral(world), headers=world.county).json()
    assert client.post(f"{API}/{advised['id']}/advise", json={"advice": "先行冠脉 CTA"},
                       headers=world.beijing).status_code == 200
    assert _shares_of(client, world, advised["id"]) == []
