"""A referral step retried with the same ``Idempotency-Key`` is answered, not done, again.

The county hospital's network loses the answer to an accept; the browser sends it again.
With the key, the retry gets the first answer (and no second step, share or notification);
without it, the same retry is refused as the conflict it is.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.referrals.conftest import World, chest_pain_referral
from yilian.audit.models import AuditEvent
from yilian.notify.models import Notification
from yilian.patients.models import PatientShare
from yilian.referrals.models import Referral, ReferralEvent

API = "/api/v1/referrals"


def _count(session: Session, model: type, *where: object) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_retried_accept_gets_the_first_answer_and_acts_once(
    client: TestClient, world: World, session: Session
) -> None:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    keyed = {**world.beijing, "Idempotency-Key": "accept-7f3a"}
    first = client.post(f"{API}/{rid}/accept", json={"note": "收治"}, headers=keyed)
    assert first.status_code == 200
    events = _count(session, ReferralEvent, ReferralEvent.referral_id == rid)
    shares = _count(session, PatientShare)
    notices = _count(session, Notification)

    again = client.post(f"{API}/{rid}/accept", json={"note": "收治"}, headers=keyed)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # Nothing happened twice: one accept on the timeline, one share, one notification.
    assert _count(session, ReferralEvent, ReferralEvent.referral_id == rid) == events
    assert _count(session, PatientShare) == shares
    assert _count(session, Notification) == notices
    # The replay shows patient data again: it is audited as a read of that patient.
    person_id = session.get(Referral, rid).person_id  # type: ignore[union-attr]
    assert _count(session, AuditEvent, AuditEvent.action == "request.replay",
                  AuditEvent.patient_id == person_id) == 1

    # The same retry without a key is the conflict it is: the referral has moved on.
    unkeyed = client.post(f"{API}/{rid}/accept", json={"note": "收治"}, headers=world.beijing)
    assert unkeyed.status_code == 409


def test_a_retried_create_makes_one_referral(
    client: TestClient, world: World, session: Session
) -> None:
    keyed = {**world.county, "Idempotency-Key": "create-2026-12-01-0001"}
    first = client.post(API, json=chest_pain_referral(world), headers=keyed)
    again = client.post(API, json=chest_pain_referral(world), headers=keyed)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert _count(session, Referral) == 1


def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(
    client: TestClient, world: World, session: Session
) -> None:
    keyed = {**world.county, "Idempotency-Key": "reused"}
    made = client.post(API, json=chest_pain_referral(world), headers=keyed)
    assert made.status_code == 201
    other = client.post(API, json=chest_pain_referral(world, reason="另一位患者的转诊"),
                        headers=keyed)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "另一个请求" in other.json()["message_zh"]
    assert "another request" in other.json()["message_en"]
    assert _count(session, Referral) == 1


def test_keys_are_per_user(client: TestClient, world: World, session: Session) -> None:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    # The referrer's key on their own request does not answer the receiver's step.
    client.post(f"{API}/{rid}/notes", json={"note": "已电话联系"},
                headers={**world.county, "Idempotency-Key": "same-key"})
    accepted = client.post(f"{API}/{rid}/accept", json={},
                           headers={**world.beijing, "Idempotency-Key": "same-key"})
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"


def test_a_failed_step_keeps_no_answer(client: TestClient, world: World) -> None:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    keyed = {**world.beijing, "Idempotency-Key": "complete-too-early"}
    early = client.post(f"{API}/{rid}/complete", json={"outcome_summary": "好转"}, headers=keyed)
    assert early.status_code == 409  # not accepted yet: nothing done, nothing kept
    client.post(f"{API}/{rid}/accept", json={}, headers=world.beijing)
    client.post(f"{API}/{rid}/arrive", json={}, headers=world.beijing)
    later = client.post(f"{API}/{rid}/complete", json={"outcome_summary": "好转"}, headers=keyed)
    assert later.status_code == 200
    assert later.json()["status"] == "completed"


def test_a_malformed_key_is_refused(client: TestClient, world: World) -> None:
    answer = client.post(API, json=chest_pain_referral(world),
                         headers={**world.county, "Idempotency-Key": "x" * 129})
    assert answer.status_code == 422
    assert answer.json()["code"] == "bad_idempotency_key"
