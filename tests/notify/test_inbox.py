"""The in-app inbox: who an event reaches, and each user seeing and clearing only their own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_user
from tests.notify.conftest import Network
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.auth.models import Role
from yilian.notify import service as notify
from yilian.notify.models import InboxItem, OutboxMessage


def inbox_of(session: Session, user_id: int) -> list[str]:
    items, _total = notify.list_inbox(session, user_id=user_id)
    return [item.notification.title_en for item in items]


def test_an_event_for_a_hospital_reaches_its_clinicians_and_administrators_only(
    session: Session, network: Network
) -> None:
    retired = make_user(session, role=Role.CLINICIAN, institution=network.county,
                        username="retired.doctor")
    retired.is_active = False
    session.commit()

    arrived = notify.publish(
        session, kind="referral.received", institution_ids=[network.county.id],
        title_zh="新转诊：宋桂兰，胸痛", title_en="New referral: Song Guilan, chest pain",
        link="/referrals/7", subject_ref="ServiceRequest/7", payload={"urgency": "emergency"},
    )
    notify.publish(session, kind="referral.accepted", institution_ids=[network.city.id],
                   user_ids=[network.city_doctor.id], title_zh="转诊已接收",
                   title_en="Referral accepted")
    session.commit()

    assert len(arrived.event_id) == 36
    assert inbox_of(session, network.county_doctor.id) == ["New referral: Song Guilan, chest pain"]
    assert inbox_of(session, network.county_admin.id) == ["New referral: Song Guilan, chest pain"]
    for nobody in (network.county_clerk, network.county_patient, retired,
                   network.platform_admin):
        assert inbox_of(session, nobody.id) == []
    assert inbox_of(session, network.city_doctor.id) == ["Referral accepted"]
    # No subscription and no SMTP: nothing waits in the outbox.
    assert session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_a_doctor_reads_and_clears_their_inbox_through_the_api_and_the_page(
    session: Session, network: Network, client: TestClient
) -> None:
    for number in (1, 2, 3):
        notify.publish(session, kind="referral.received", institution_ids=[network.county.id],
                       title_zh=f"新转诊 {number}", title_en=f"New referral {number}",
                       link=f"/referrals/{number}")
    session.commit()
    doctor = bearer(client, "county.doctor")
    admin = bearer(client, "county.admin")

    page = client.get("/api/v1/inbox", headers=doctor).json()
    assert page["total"] == 3
    assert [i["notification"]["title_en"] for i in page["items"]] == [
        "New referral 3", "New referral 2", "New referral 1"]
    assert client.get("/api/v1/inbox/unread-count", headers=doctor).json() == {"unread": 3}

    newest = page["items"][0]["id"]
    # The administrator got the same event as an item of their own; the doctor's is not theirs.
    assert client.post(f"/api/v1/inbox/{newest}/read", headers=admin).status_code == 404
    read = client.post(f"/api/v1/inbox/{newest}/read", headers=doctor).json()
    assert read["read_at"] is not None
    assert client.get("/api/v1/inbox/unread-count", headers=doctor).json() == {"unread": 2}
    assert client.get("/api/v1/inbox/unread-count", headers=admin).json() == {"unread": 3}
    unread = client.get("/api/v1/inbox?unread=true", headers=doctor).json()
    assert [i["notification"]["title_en"] for i in unread["items"]] == [
        "New referral 2", "New referral 1"]
    assert client.post("/api/v1/inbox/read-all", headers=doctor).json() == {"marked": 2}
    assert client.get("/api/v1/inbox/unread-count", headers=doctor).json() == {"unread": 0}
    assert client.get("/api/v1/inbox").status_code == 401

    # The administrator's page: the nav badge, the list, and "open" marking an item read.
    client.headers["Accept"] = BROWSER_ACCEPT
    sign_in(client, "county.admin")
    home = client.get("/")
    assert 'hx-get="/inbox/badge"' in home.text
    assert 'data-unread="3"' in client.get("/inbox/badge").text
    inbox = client.get("/inbox?lang=en")
    assert "New referral 1" in inbox.text and "3 unread" in inbox.text
    first_item = session.scalars(
        select(InboxItem.id).where(InboxItem.user_id == network.county_admin.id)
        .order_by(InboxItem.id)
    ).first()
    opened = client.post(f"/inbox/{first_item}/read", data={"csrf_token": csrf_of(inbox.text)},
                         follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/referrals/1"
    assert 'data-unread="2"' in client.get("/inbox/badge").text
    client.post("/inbox/read-all", data={"csrf_token": csrf_of(inbox.text)})
    assert client.get("/inbox/badge").text == ""
    assert "消息" in client.get("/inbox?lang=zh").text
