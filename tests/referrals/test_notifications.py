"""The closed loop reaches people: each step lands in the other side's inbox and webhooks."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_user
from tests.referrals.conftest import World, chest_pain_referral
from yilian.auth.models import Role
from yilian.notify.models import OutboxMessage
from yilian.registry.models import Institution

API = "/api/v1/referrals"


def _inbox(client: TestClient, headers: dict[str, str]) -> list[tuple[str, str, str]]:
    items = client.get("/api/v1/inbox", headers=headers).json()["items"]
    return [(i["notification"]["kind"], i["notification"]["title_zh"],
             i["notification"]["link"]) for i in items]


def test_each_step_reaches_the_other_side_and_the_referrers_system(
    client: TestClient, world: World, session: Session
) -> None:
    county = session.get(Institution, world.county_id)
    assert county is not None
    admin = make_user(session, role=Role.HOSPITAL_ADMIN, institution=county)
    session.commit()
    hook = client.post("/api/v1/notify/webhooks", headers=bearer(client, admin.username), json={
        "institution_id": world.county_id, "url": "http://127.0.0.1:9/his", "kinds": "referral"})
    assert hook.status_code == 201, hook.text

    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    link = f"/referrals/{rid}"
    # The receiving hospital's clinician hears of the new referral; the sender does not.
    assert _inbox(client, world.beijing) == [("referral.requested", f"转诊 #{rid}：待接收", link)]
    assert _inbox(client, world.county) == []

    for action in ("receive", "accept"):
        assert client.post(f"{API}/{rid}/{action}", json={},
                           headers=world.beijing).status_code == 200
    kinds = [kind for kind, _title, _link in _inbox(client, world.county)]
    assert kinds == ["referral.accepted", "referral.received"]  # newest first
    assert _inbox(client, world.township) == []  # nobody outside the referral hears of it

    # The county hospital's HIS is told too, by reference: no patient name leaves the building.
    sent = session.scalars(select(OutboxMessage).where(
        OutboxMessage.institution_id == world.county_id).order_by(OutboxMessage.id)).all()
    assert [m.kind for m in sent] == ["referral.received", "referral.accepted"]
    body = json.loads(sent[-1].body)
    assert body["payload"]["referral_id"] == rid and body["payload"]["status"] == "accepted"
    assert "宋桂兰" not in sent[-1].body
