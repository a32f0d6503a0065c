"""A county clinician's MDT request, through acceptance, scheduling in the experts' free
time, the session, the signed report and the referral it recommends; the illegal steps
answered 409 in both languages; who may see and do what."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.consultations.conftest import (
    API,
    Network,
    accepted,
    next_weekday_at,
    requested,
)
from tests.factories import bearer, make_user
from yilian.auth.models import Role
from yilian.consultations import service as consultations
from yilian.consultations.models import Consultation
from yilian.notify.models import InboxItem, Notification
from yilian.registry.models import Institution
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import HalfDay

REPORT = {"findings": "造影示三支病变，SYNTAX 评分 33", "assessment": "适合外科搭桥",
          "recommendations": "转北京行冠状动脉旁路移植术", "refer_up": True}


def _scheduled(client: TestClient, net: Network, cid: int) -> dict[str, object]:
    starts = next_weekday_at(2, 15)  # a Wednesday afternoon
    answer = client.post(f"{API}/{cid}/schedule", json={"starts_at": starts.isoformat()},
                         headers=net.coordinator)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _signed_by_all(client: TestClient, net: Network) -> int:
    cid = accepted(client, net)
    _scheduled(client, net, cid)
    assert client.post(f"{API}/{cid}/start", headers=net.experts[0]).status_code == 200
    assert client.put(f"{API}/{cid}/report", json=REPORT,
                      headers=net.experts[0]).status_code == 200
    for headers in net.experts:
        answer = client.post(f"{API}/{cid}/report/sign", headers=headers)
        assert answer.status_code == 200, answer.text
    return cid


def _inbox_titles(session: Session, username_headers: dict[str, str],
                  client: TestClient) -> list[str]:
    items = client.get("/api/v1/inbox", headers=username_headers)
    assert items.status_code == 200, items.text
    return [str(i["notification"]["title_zh"]) for i in items.json()["items"]]


def test_the_whole_mdt_loop_ends_in_a_referral_the_report_recommends(
    client: TestClient, net: Network, session: Session,
) -> None:
    first = requested(client, net)
    assert first["status"] == "requested"
    assert first["response_due_at"] is not None and first["overdue"] is False
    cid = int(str(first["id"]))
    accept = client.post(f"{API}/{cid}/accept", json={"expert_ids": net.expert_ids},
                         headers=net.coordinator)
    assert accept.status_code == 200, accept.text
    assert [e["practitioner_id"] for e in accept.json()["experts"]] == net.expert_ids
    shown = _scheduled(client, net, cid)
    assert shown["status"] == "scheduled"
    assert str(shown["room_url"]).startswith("https://meet.yilian.invalid/room/")
    assert client.post(f"{API}/{cid}/join", headers=net.world.county).status_code == 200
    assert client.post(f"{API}/{cid}/start", headers=net.experts[1]).status_code == 200
    assert client.post(f"{API}/{cid}/join", headers=net.experts[1]).status_code == 200
    client.put(f"{API}/{cid}/report", json=REPORT, headers=net.experts[0])
    for headers in net.experts:
        client.post(f"{API}/{cid}/report/sign", headers=headers)
    done = client.get(f"{API}/{cid}", headers=net.world.county).json()
    assert done["status"] == "reported"
    assert len(done["report"]["signatures"]) == 3
    assert len(done["attendance"]) == 2
    steps = [e["action"] for e in done["events"]]
    assert steps[:4] == ["created", "accept", "schedule", "joined"]
    assert steps[-1] == "sign_off"
    # The signed report reached the requester's inbox.
    titles = _inbox_titles(session, net.world.county, client)
    assert f"会诊 #{cid}：会诊报告已签署" in titles

    referral = client.post(f"{API}/{cid}/referral", json={"consent_recorded": True,
                                                          "kind": "inpatient"},
                           headers=net.world.county)
    assert referral.status_code == 201, referral.text
    made = referral.json()
    assert made["status"] == "draft"
    assert made["person_id"] == net.world.person_id
    assert made["target_institution_id"] == net.world.tertiary_id
    assert made["reason"] == REPORT["recommendations"]
    assert "适合外科搭桥" in made["clinical_summary"]
    again = client.post(f"{API}/{cid}/referral", json={"consent_recorded": True},
                        headers=net.world.county)
    assert again.status_code == 409
    assert client.get(f"{API}/{cid}", headers=net.world.county).json()[
        "follow_up_referral_id"] == made["id"]
    closed = client.post(f"{API}/{cid}/close", headers=net.world.county)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_illegal_steps_are_409_in_both_languages(client: TestClient, net: Network) -> None:
    cid = int(str(requested(client, net)["id"]))
    early = client.post(f"{API}/{cid}/start", headers=net.coordinator)
    assert early.status_code == 409
    error = early.json()
    assert error["code"] == "illegal_transition"
    assert "待受理" in error["message_zh"] and "requested" in error["message_en"]
    decline = client.post(f"{API}/{cid}/decline", json={"reason": "本院暂无该专科"},
                          headers=net.coordinator)
    assert decline.status_code == 200
    late = client.post(f"{API}/{cid}/accept", json={"expert_ids": net.expert_ids},
                       headers=net.coordinator)
    assert late.status_code == 409
    assert "已拒绝" in late.json()["message_zh"]
    stale = client.post(f"{API}/{accepted(client, net)}/schedule",
                        json={"starts_at": next_weekday_at(2, 15).isoformat()},
                        headers={**net.coordinator, "If-Match": "1"})
    assert stale.status_code == 409 and stale.json()["code"] == "version_conflict"


def test_an_mdt_is_not_scheduled_when_one_expert_holds_a_clinic_then(
    client: TestClient, net: Network, session: Session,
) -> None:
    cid = accepted(client, net)
    monday_morning = next_weekday_at(0, 9)
    scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
        practitioner_id=net.expert_ids[2], department_id=net.world.cardiology_id, weekday=0,
        half_day=HalfDay.MORNING, start=time(8, 0), slot_minutes=15, slot_count=16,
        valid_from=date.today() - timedelta(days=7)))
    session.commit()
    refused = client.post(f"{API}/{cid}/schedule",
                          json={"starts_at": monday_morning.isoformat()},
                          headers=net.coordinator)
    assert refused.status_code == 409, refused.text
    error = refused.json()
    assert error["code"] == "expert_busy"
    assert "赵影像（门诊）" in error["message_zh"] and "a clinic session" in error["message_en"]
    # The times offered are the ones all three are free; one of them is accepted.
    offered = client.get(f"{API}/{cid}/free-times", headers=net.coordinator).json()
    clinic_opens = monday_morning.replace(hour=8)
    clinic_closes = monday_morning.replace(hour=12)
    assert offered
    for start in map(datetime.fromisoformat, offered):
        assert not (start < clinic_closes and clinic_opens < start + timedelta(hours=1))
    fine = client.post(f"{API}/{cid}/schedule", json={"starts_at": offered[0]},
                       headers=net.coordinator)
    assert fine.status_code == 200, fine.text
    # A second MDT with an expert of the first is refused at the same time.
    other = accepted(client, net)
    clash = client.post(f"{API}/{other}/schedule", json={"starts_at": offered[0]},
                        headers=net.coordinator)
    assert clash.status_code == 409
    assert f"会诊 #{cid}" in clash.json()["message_zh"]


def test_a_signed_report_is_frozen_and_amendments_are_appended(
    client: TestClient, net: Network,
) -> None:
    cid = accepted(client, net)
    _scheduled(client, net, cid)
    client.post(f"{API}/{cid}/start", headers=net.coordinator)
    client.put(f"{API}/{cid}/report", json=REPORT, headers=net.experts[0])
    assert client.post(f"{API}/{cid}/report/sign", headers=net.experts[0]).status_code == 200
    changed = client.put(f"{API}/{cid}/report", json={**REPORT, "assessment": "改为 PCI"},
                         headers=net.experts[1])
    assert changed.status_code == 409 and changed.json()["code"] == "report_signed"
    twice = client.post(f"{API}/{cid}/report/sign", headers=net.experts[0])
    assert twice.status_code == 409
    assert client.post(f"{API}/{cid}/report/sign", headers=net.world.beijing).status_code == 403
    amended = client.post(f"{API}/{cid}/report/amendments",
                          json={"text": "补充：术前请完善颈动脉超声"}, headers=net.experts[1])
    assert amended.status_code == 201
    report = client.get(f"{API}/{cid}", headers=net.world.county).json()["report"]
    assert report["assessment"] == "适合外科搭桥"
    assert [a["text"] for a in report["amendments"]] == ["补充：术前请完善颈动脉超声"]
    assert report["signatures"][0]["content_sha256"] == report["content_sha256"]


def test_records_are_shared_while_open_and_the_share_ends_with_the_consultation(
    client: TestClient, net: Network,
) -> None:
    def beijing_sees() -> bool:
        answer = client.get(f"/api/v1/patients/{net.world.person_id}",
                            headers=net.world.beijing)
        return answer.status_code == 200

    assert not beijing_sees()
    cid = _signed_by_all(client, net)
    assert beijing_sees()
    client.post(f"{API}/{cid}/close", headers=net.coordinator)
    assert not beijing_sees()
    other = int(str(requested(client, net)["id"]))
    assert beijing_sees()
    client.post(f"{API}/{other}/cancel", json={"reason": "患者已好转"}, headers=net.world.county)
    assert not beijing_sees()
    shares = client.get(f"/api/v1/patients/{net.world.person_id}/shares",
                        headers=net.world.county).json()
    mine = [s for s in shares if s["source_ref"] in (f"Consultation/{cid}",
                                                     f"Consultation/{other}")]
    assert len(mine) == 2 and all(s["revoked_at"] for s in mine)


def test_another_hospital_cannot_see_or_act_and_sides_are_kept(
    client: TestClient, net: Network, session: Session,
) -> None:
    cid = int(str(requested(client, net)["id"]))
    assert client.get(f"{API}/{cid}", headers=net.world.township).status_code == 404
    listed = client.get(API, headers=net.world.township).json()
    assert listed["total"] == 0
    # A Beijing clinician who is no coordinator cannot accept; the requester cannot either.
    body = {"expert_ids": net.expert_ids}
    assert client.post(f"{API}/{cid}/accept", json=body,
                       headers=net.world.beijing).status_code == 403
    assert client.post(f"{API}/{cid}/accept", json=body,
                       headers=net.world.county).status_code == 403
    incoming = client.get(f"{API}?box=incoming", headers=net.coordinator).json()
    assert [row["id"] for row in incoming["items"]] == [cid]
    county = session.get(Institution, net.world.county_id)
    outsider = make_user(session, role=Role.HOSPITAL_ADMIN, institution=county)
    session.commit()
    # The county's own administrator is no coordinator of a request it sent.
    assert client.post(f"{API}/{cid}/accept", json=body,
                       headers=bearer(client, outsider.username)).status_code == 403


def test_the_room_link_is_built_from_a_random_token_only(
    client: TestClient, net: Network, monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = []
    for hour in (15, 17):
        cid = accepted(client, net)
        shown = client.post(f"{API}/{cid}/schedule",
                            json={"starts_at": next_weekday_at(2, hour).isoformat()},
                            headers=net.coordinator).json()
        urls.append(str(shown["room_url"]))
    tokens = [url.removeprefix("https://meet.yilian.invalid/room/") for url in urls]
    assert tokens[0] != tokens[1]
    assert all(len(t) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)
    # With the random source fixed, the link is the template and that token, nothing else:
    # no consultation, patient or record id finds its way in.
    monkeypatch.setattr(consultations.secrets, "token_urlsafe", lambda _: "fixedRandomToken")
    cid = accepted(client, net)
    shown = client.post(f"{API}/{cid}/schedule",
                        json={"starts_at": next_weekday_at(3, 15).isoformat()},
                        headers=net.coordinator).json()
    assert shown["room_url"] == "https://meet.yilian.invalid/room/fixedRandomToken"


def test_a_request_is_overdue_past_its_deadline_and_escalated_once(
    client: TestClient, net: Network, session: Session,
) -> None:
    cid = int(str(requested(client, net, urgency="emergency")["id"]))
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert [c.id for c in consultations.escalate_overdue(session, now=later)] == [cid]
    assert consultations.escalate_overdue(session, now=later) == []
    session.commit()
    kinds = session.scalars(select(Notification.kind).join(
        InboxItem, InboxItem.notification_id == Notification.id)).all()
    assert "consultation.escalated" in kinds


def test_counts_by_kind_and_institution_with_response_times_and_referrals_up(
    client: TestClient, net: Network,
) -> None:
    referred = _signed_by_all(client, net)
    client.post(f"{API}/{referred}/referral", json={"consent_recorded": True},
                headers=net.world.county)
    declined = int(str(requested(client, net, kind="single", target_specialty="")["id"]))
    client.post(f"{API}/{declined}/decline", json={"reason": "请先完善冠脉 CTA"},
                headers=net.coordinator)
    requested(client, net, kind="case_discussion", target_specialty="cardiology")
    shown = client.get(f"{API}/counts", headers=net.coordinator)
    assert shown.status_code == 200, shown.text
    got = shown.json()
    assert got["total"] == 3
    assert {r["key"]: r["count"] for r in got["by_kind"]} == {
        "mdt": 1, "single": 1, "case_discussion": 1}
    assert {r["key"]: r["count"] for r in got["by_specialty"]} == {"cardiology": 2, "": 1}
    assert [(r["key"], r["count"]) for r in got["by_requesting_institution"]] == [
        (str(net.world.county_id), 3)]
    assert got["answered"] == 2 and got["median_response_minutes"] is not None
    assert (got["reported"], got["referred_up"], got["kept_local"]) == (1, 1, 0)
    # A clinician (here the township's) may not count.
    assert client.get(f"{API}/counts", headers=net.world.township).status_code == 403


def test_the_coordinator_records_experts_who_took_part_without_signing_in(
    client: TestClient, net: Network,
) -> None:
    cid = accepted(client, net)
    early = client.post(f"{API}/{cid}/attendance", json={"practitioner_ids": net.expert_ids[:1]},
                        headers=net.coordinator)
    assert early.status_code == 409  # no session yet
    _scheduled(client, net, cid)
    assert client.post(f"{API}/{cid}/join", headers=net.experts[0]).status_code == 200
    marked = client.post(f"{API}/{cid}/attendance",
                         json={"practitioner_ids": net.expert_ids[:2]}, headers=net.coordinator)
    assert marked.status_code == 200, marked.text
    # The expert who joined is there once; the other is recorded by the coordinator.
    present = [(a["practitioner_id"], a["username"] == "") for a in marked.json()]
    assert present == [(net.expert_ids[0], False), (net.expert_ids[1], True)]
    again = client.post(f"{API}/{cid}/attendance", json={"practitioner_ids": net.expert_ids},
                        headers=net.coordinator)
    assert [a["practitioner_id"] for a in again.json()] == net.expert_ids
    stranger = client.post(f"{API}/{cid}/attendance",
                           json={"practitioner_ids": [net.world.head_practitioner_id]},
                           headers=net.coordinator)
    assert stranger.status_code == 422
    assert client.post(f"{API}/{cid}/attendance", json={"practitioner_ids": net.expert_ids},
                       headers=net.world.county).status_code == 403
    steps = [e["action"] for e in client.get(f"{API}/{cid}", headers=net.coordinator)
             .json()["events"]]
    assert steps.count("attendance") == 2


def test_withdrawing_an_unanswered_request_is_no_answer(
    client: TestClient, net: Network, session: Session,
) -> None:
    cid = int(str(requested(client, net)["id"]))
    assert client.post(f"{API}/{cid}/cancel", json={"reason": "病情好转"},
                       headers=net.world.county).status_code == 200
    row = session.get(Consultation, cid)
    assert row is not None and row.status.value == "cancelled" and row.responded_at is None
