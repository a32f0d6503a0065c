"""Webhook subscriptions: who manages them, what they receive, and how failures are retried,
given up and sent again; and the signature a receiver checks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.factories import bearer
from tests.notify.conftest import Network, Receiver
from tests.web.conftest import BROWSER_ACCEPT, sign_in
from yilian import cli
from yilian.config import Settings
from yilian.db import utcnow
from yilian.errors import InvalidInput
from yilian.notify import InvalidSignature, sign, verify_signature
from yilian.notify import service as notify
from yilian.notify.delivery import Worker, backoff_delay
from yilian.notify.models import OutboxMessage, OutboxStatus, WebhookSubscription


def test_backoff_doubles_from_the_base_up_to_the_cap_with_half_of_it_random() -> None:
    # base 30 s: the 1st failure waits 15–30 s, the 2nd 30–60 s, the 8th is capped at 1 h.
    assert backoff_delay(1, base=30, cap=3600, jitter=0.0) == 15
    assert backoff_delay(1, base=30, cap=3600, jitter=0.5) == 22.5
    assert backoff_delay(2, base=30, cap=3600, jitter=0.0) == 30
    assert backoff_delay(8, base=30, cap=3600, jitter=0.0) == 1800
    assert backoff_delay(8, base=30, cap=3600, jitter=0.999) < 3600


def test_subscriptions_match_kinds_by_prefix_on_dot_boundaries() -> None:
    assert notify.kind_matches([], "consultation.requested")  # no kinds: everything
    assert notify.kind_matches(["referral"], "referral.accepted")
    assert not notify.kind_matches(["referral"], "referrals.accepted")
    assert notify.kind_matches(["scheduling.booked"], "scheduling.booked")
    assert not notify.kind_matches(["scheduling.booked"], "scheduling.cancelled")
    assert notify.kind_matches(["results", "*"], "settlement.settled")
    assert notify.parse_kinds("referral, scheduling.booked  referral") == [
        "referral", "scheduling.booked"]
    notify.check_kind("referral.green_channel.activated")
    with pytest.raises(InvalidInput) as refused:
        notify.check_kind("Referral accepted")
    assert refused.value.status_code == 422 and "referral.accepted" in refused.value.en


def test_a_receiver_accepts_only_a_fresh_signature_of_the_exact_body() -> None:
    secret, body = "whsec_test", b'{"kind":"referral.accepted"}'
    headers = {"x-yilian-signature": sign(secret, body, timestamp=1_800_000_000)}
    assert verify_signature(secret, headers, body, 300, now=1_800_000_100) == 1_800_000_000
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature(secret, headers, body + b" ", 300, now=1_800_000_100)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify_signature("whsec_other", headers, body, 300, now=1_800_000_100)
    with pytest.raises(InvalidSignature, match="tolerance"):  # replayed an hour later
        verify_signature(secret, headers, body, 300, now=1_800_003_600)
    with pytest.raises(InvalidSignature, match="no X-Yilian-Signature"):
        verify_signature(secret, {}, body)
    # During a secret rotation a request may carry two signatures; one valid one suffices.
    both = {"X-Yilian-Signature": headers["x-yilian-signature"] + ",v1=" + "0" * 64}
    assert verify_signature(secret, both, body, 300, now=1_800_000_000)


def test_hospital_administrators_manage_their_own_institutions_subscriptions(
    session: Session, network: Network, client: TestClient
) -> None:
    admin, doctor = bearer(client, "county.admin"), bearer(client, "county.doctor")
    root = bearer(client, "root")
    made = client.post("/api/v1/notify/webhooks", headers=admin, json={
        "institution_id": network.county.id, "url": "https://his.county.example/yilian",
        "kinds": "referral scheduling.booked"})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert secret.startswith("whsec_") and made.json()["kinds"] == "referral scheduling.booked"
    stored = session.scalars(select(WebhookSubscription)).one()
    assert secret not in stored.secret_encrypted and stored.secret_encrypted.startswith("v1.")
    hook = made.json()["id"]
    assert "secret" not in client.get(f"/api/v1/notify/webhooks/{hook}", headers=admin).json()

    other = {"institution_id": network.city.id, "url": "https://his.city.example/hook"}
    assert client.post("/api/v1/notify/webhooks", headers=admin, json=other).status_code == 403
    assert client.post("/api/v1/notify/webhooks", headers=doctor, json=other).status_code == 403
    assert client.get("/api/v1/notify/webhooks", headers=doctor).status_code == 403
    bad = client.post("/api/v1/notify/webhooks", headers=root,
                      json={**other, "url": "ftp://his.city.example/hook"})
    assert bad.status_code == 422 and bad.json()["message_zh"]
    assert client.post("/api/v1/notify/webhooks", headers=root, json=other).status_code == 201
    assert len(client.get("/api/v1/notify/webhooks", headers=root).json()) == 2
    city_hook = client.get("/api/v1/notify/webhooks", headers=root).json()[1]["id"]
    assert client.get(f"/api/v1/notify/webhooks/{city_hook}", headers=admin).status_code == 403
    assert [s["id"] for s in client.get("/api/v1/notify/webhooks", headers=admin).json()] == [hook]

    rotated = client.post(f"/api/v1/notify/webhooks/{hook}/secret", headers=admin).json()
    assert rotated["secret"] != secret
    off = client.patch(f"/api/v1/notify/webhooks/{hook}", headers=admin,
                       json={"is_active": False}).json()
    assert off["is_active"] is False


def test_a_failing_receiver_is_retried_with_backoff_given_up_and_sent_again_on_request(
    session: Session, sessions: sessionmaker[Session], network: Network, client: TestClient,
    receiver: Receiver, settings: Settings, runner: CliRunner,
) -> None:
    admin = bearer(client, "county.admin")
    made = client.post("/api/v1/notify/webhooks", headers=admin, json={
        "institution_id": network.county.id, "url": receiver.url, "kinds": "referral"}).json()
    switched_off = client.post("/api/v1/notify/webhooks", headers=admin, json={
        "institution_id": network.county.id, "url": receiver.url + "/old"}).json()
    client.patch(f"/api/v1/notify/webhooks/{switched_off['id']}", headers=admin,
                 json={"is_active": False})
    notify.publish(session, kind="referral.accepted", institution_ids=[network.county.id],
                   title_zh="转诊已接收", title_en="Referral accepted",
                   subject_ref="ServiceRequest/12", payload={"referral_id": 12})
    notify.publish(session, kind="scheduling.booked", institution_ids=[network.county.id],
                   title_zh="已预约", title_en="Booked")  # the subscription wants referrals only
    session.commit()
    message = session.scalars(select(OutboxMessage)).one()
    assert message.kind == "referral.accepted" and message.subscription_id == made["id"]

    receiver.answer = lambda n: (500, 0.0) if n <= 3 else (200, 0.0)
    worker = Worker(settings.model_copy(update={
        "notify_max_attempts": 3, "notify_backoff_base_seconds": 60.0}), sessions,
        name="test-worker", jitter=lambda: 0.0)

    def due_now() -> None:  # as if the backoff had passed
        with sessions.begin() as s:
            s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))

    waits = []
    for _attempt in (1, 2):
        before = utcnow()
        assert worker.run_until_idle() == 1
        session.refresh(message)
        assert message.status is OutboxStatus.PENDING and message.last_status_code == 500
        waits.append(round((message.next_attempt_at - before).total_seconds()))
        due_now()
    assert waits == [30, 60]  # 60 s base, doubling, half of it jitter (here none)
    assert worker.run_until_idle() == 1
    log = client.get(f"/api/v1/notify/webhooks/{made['id']}/deliveries", headers=admin).json()
    dead = log["items"][0]
    assert (dead["status"], dead["attempts"]) == ("dead", 3)
    assert dead["last_error"].startswith("HTTP 500")

    client.headers["Accept"] = BROWSER_ACCEPT
    sign_in(client, "county.admin")
    page = client.get(f"/notify/webhooks/{made['id']}?lang=en")
    assert "Given up" in page.text and "Send again" in page.text
    client.headers["Accept"] = "application/json"
    requeued = client.post(f"/api/v1/notify/outbox/{dead['id']}/requeue", headers=admin)
    assert requeued.json()["status"] == "pending" and requeued.json()["attempts"] == 0
    sent = runner.invoke(cli.app, ["notify", "deliver", "--once"])  # the worker as a command
    assert sent.exit_code == 0 and "claimed 1 outbox messages" in sent.output, sent.output
    again = client.post(f"/api/v1/notify/outbox/{dead['id']}/requeue", headers=admin)
    assert again.status_code == 409

    # Four tries reached the receiver, all with one delivery id and the same signed body.
    assert [r.headers["X-Yilian-Delivery"] for r in receiver.received] == [
        message.delivery_id] * 4
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1
    event = json.loads(bodies.pop())
    assert event["payload"] == {"referral_id": 12}
    assert event["subject_ref"] == "ServiceRequest/12"
    assert event["institution_id"] == network.county.id
    session.refresh(message)
    assert message.status is OutboxStatus.DELIVERED
    assert message.delivered_at is not None and message.delivered_at - utcnow() < timedelta(0)
