"""Worked examples of the referral's closed loop through the REST API."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.referrals.conftest import World, chest_pain_referral
from yilian.audit.models import AuditEvent
from yilian.cli import app
from yilian.db import utcnow
from yilian.referrals import care
from yilian.referrals.events import record_event
from yilian.referrals.models import EventKind, Referral

API = "/api/v1/referrals"


def test_a_chest_pain_patient_goes_up_to_beijing_and_back_down_with_the_loop_closed(
    client: TestClient, world: World, session: Session
) -> None:
    # The receiving hospital cannot open the county patient's records before accepting.
    assert client.get(f"/api/v1/patients/{world.person_id}",
                      headers=world.beijing).status_code == 404

    made = client.post(API, json=chest_pain_referral(world), headers=world.county)
    assert made.status_code == 201, made.text
    referral = made.json()
    rid = referral["id"]
    assert referral["status"] == "requested"
    assert referral["direction"] == "up"  # county (level 2) to tertiary (level 3)
    due = referral["response_due_at"]
    assert due is not None and referral["overdue"] is False

    incoming = client.get(API, params={"box": "incoming"}, headers=world.beijing).json()
    assert [row["id"] for row in incoming["items"]] == [rid]
    assert client.get(API, params={"box": "outgoing"},
                      headers=world.beijing).json()["total"] == 0
    # Someone at neither end does not know the referral exists.
    assert client.get(f"{API}/{rid}", headers=world.township).status_code == 404

    steps = [
        ("receive", {}),
        ("accept", {"note": "导管室已准备"}),
        ("book", {"ward": "心内科一病区", "bed": "12", "note": "CCU 床位"}),
        ("arrive", {"note": "患者已入院"}),
        ("complete", {"outcome_summary": "急诊 PCI 术后恢复良好，出院。",
                      "follow_up_plan": "阿司匹林+替格瑞洛 12 个月；1 个月后县医院复查"}),
    ]
    for action, body in steps:
        answer = client.post(f"{API}/{rid}/{action}", json=body, headers=world.beijing)
        assert answer.status_code == 200, (action, answer.text)
        if action == "accept":  # accepting shares the records for the referral's lifetime
            shared = client.get(f"/api/v1/patients/{world.person_id}", headers=world.beijing)
            assert shared.status_code == 200
    done = answer.json()
    assert done["status"] == "completed"
    assert done["ward"] == "心内科一病区" and done["bed"] == "12"
    assert done["arrived_at"] is not None

    down = client.post(f"{API}/{rid}/refer-down", json={}, headers=world.beijing)
    assert down.status_code == 201, down.text
    back = down.json()
    assert back["direction"] == "down"
    assert back["target_institution_id"] == world.county_id
    assert back["kind"] == "rehabilitation"
    assert "替格瑞洛" in back["clinical_summary"] and back["based_on_id"] == rid

    # The county doctor sees the whole timeline, the discharge summary, and the way back.
    seen = client.get(f"{API}/{rid}", headers=world.county).json()
    assert [(e["from_status"], e["to_status"]) for e in seen["events"]] == [
        (None, "requested"), ("requested", "received"), ("received", "accepted"),
        ("accepted", "ready"), ("ready", "in-progress"), ("in-progress", "completed"),
    ]
    assert seen["outcome_summary"].startswith("急诊 PCI")
    assert client.get(API, params={"box": "incoming"},
                      headers=world.county).json()["items"][0]["id"] == back["id"]

    # Reads are audited with the patient, and the shares name the referral: the lifetime one
    # ended at discharge, the follow-up one after it (newest first).
    reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.read",
                                                     AuditEvent.entity_id == str(rid))).all()
    assert reads and all(row.patient_id == world.person_id for row in reads)
    shares = client.get(f"/api/v1/patients/{world.person_id}/shares",
                        headers=world.county).json()
    assert [(s["reason"], s["source_ref"], s["revoked_at"] is None) for s in shares] == [
        ("referral", f"ServiceRequest/{rid}", True), ("referral", f"ServiceRequest/{rid}", False),
    ]


def test_illegal_steps_are_refused_with_a_clear_reason(
    client: TestClient, world: World
) -> None:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    early = client.post(f"{API}/{rid}/complete", json={"outcome_summary": "x"},
                        headers=world.beijing)
    assert early.status_code == 409
    assert early.json()["message_zh"] == "转诊当前状态为“待接收”，不能执行“完成并回传”"
    assert early.json()["message_en"] == "The referral is requested; it cannot be completed now"
    # The referrer cannot accept their own referral; the receiver cannot cancel it.
    assert client.post(f"{API}/{rid}/accept", headers=world.county).status_code == 403
    assert client.post(f"{API}/{rid}/cancel", headers=world.beijing).status_code == 403
    assert client.post(f"{API}/{rid}/decline", json={"reason": ""},
                       headers=world.beijing).status_code == 422
    declined = client.post(f"{API}/{rid}/decline", json={"reason": "导管室检修，请转往他院"},
                           headers=world.beijing)
    assert declined.json()["status"] == "rejected"
    assert declined.json()["response_reason"] == "导管室检修，请转往他院"
    again = client.post(f"{API}/{rid}/accept", headers=world.beijing)
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    # No consent, no referral.
    refused = client.post(API, json=chest_pain_referral(world, consent_recorded=False),
                          headers=world.county)
    assert refused.status_code == 422 and refused.json()["code"] == "consent_required"


def test_advice_instead_of_a_referral_becomes_a_referral_in_one_step(
    client: TestClient, world: World
) -> None:
    body = chest_pain_referral(world, urgency="routine", green_channel=None, kind="outpatient",
                               diagnosis_code="I20.9", diagnosis_text="心绞痛")
    rid = client.post(API, json=body, headers=world.county).json()["id"]
    advised = client.post(f"{API}/{rid}/advise",
                          json={"advice": "先行冠脉 CTA，阳性再转诊"}, headers=world.beijing)
    assert advised.json()["status"] == "completed" and advised.json()["advice"]
    made = client.post(f"{API}/{rid}/refer-after-advice", headers=world.county)
    assert made.status_code == 201
    assert made.json()["status"] == "requested" and made.json()["based_on_id"] == rid
    assert made.json()["diagnosis_code"] == "I20.9"


def test_green_channel_goes_only_to_a_centre_and_its_clock_is_judged(
    client: TestClient, world: World
) -> None:
    to_township = chest_pain_referral(world, target_institution_id=world.township_id,
                                      target_department_id=None)
    refused = client.post(API, json=to_township, headers=world.county)
    assert refused.status_code == 422 and refused.json()["code"] == "no_such_centre"

    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    door = utcnow().replace(microsecond=0)
    for point, minutes in (("door", 0), ("ecg", 8), ("balloon", 84)):
        answer = client.post(f"{API}/{rid}/clocks", headers=world.beijing, json={
            "point": point, "at": (door + timedelta(minutes=minutes)).isoformat()})
        assert answer.status_code == 201, answer.text
    intervals = client.get(f"{API}/{rid}", headers=world.county).json()["intervals"]
    assert intervals == [{"name": "door_to_balloon", "minutes": 84, "limit_minutes": 90,
                          "met": True}]


def test_direction_is_derived_and_an_override_needs_a_reason(
    client: TestClient, world: World
) -> None:
    lateral = chest_pain_referral(world, green_channel=None, target_department_id=None,
                                  target_institution_id=world.township_id)
    down = client.post(API, json=lateral, headers=world.county).json()
    assert down["direction"] == "down"  # level 2 to level 1
    no_reason = client.post(API, json={**lateral, "direction": "lateral"}, headers=world.county)
    assert no_reason.status_code == 422
    overridden = client.post(API, json={**lateral, "direction": "lateral",
                                        "direction_override_reason": "同级专科协作"},
                             headers=world.county).json()
    assert overridden["direction"] == "lateral"
    assert overridden["direction_override_reason"] == "同级专科协作"


def test_an_unanswered_referral_is_overdue_and_escalated_to_the_department_head_once(
    client: TestClient, world: World, session: Session
) -> None:
    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    session.execute(update(Referral).where(Referral.id == rid)
                    .values(response_due_at=utcnow() - timedelta(minutes=20)))
    session.commit()
    overdue = client.get(API, params={"box": "incoming", "overdue": "true"},
                         headers=world.beijing).json()["items"]
    assert [(row["id"], row["overdue"]) for row in overdue] == [(rid, True)]

    escalated = care.escalate_overdue(session)
    session.commit()
    assert [r.id for r in escalated] == [rid]
    assert care.escalate_overdue(session) == []  # once only
    events = client.get(f"{API}/{rid}", headers=world.county).json()["events"]
    assert events[-1]["kind"] == "escalated" and events[-1]["note"] == "张主任"
    assert "超时 20 分钟" in events[-1]["reason"]

    # Whoever acts, record_event says who should hear: here the receiving side hears the
    # referrer's note, the referrer hears the receiver's.
    referral = session.get(Referral, rid)
    assert referral is not None
    heard = record_event(session, referral=referral, kind=EventKind.NOTE, principal=None,
                         note="x")
    assert heard.audience.institution_ids == {world.county_id}
    session.rollback()


def test_beds_documents_and_the_escalation_command(
    client: TestClient, world: World, session: Session, runner: CliRunner
) -> None:
    beds = client.put(f"/api/v1/departments/{world.cardiology_id}/beds", headers=world.beijing,
                      json={"wards": [{"ward": "心内一病区", "free_beds": 3, "total_beds": 40},
                                      {"ward": "CCU", "free_beds": 1}]})
    assert beds.status_code == 200, beds.text
    assert client.put(f"/api/v1/departments/{world.cardiology_id}/beds", headers=world.county,
                      json={"wards": [{"ward": "x", "free_beds": 9}]}).status_code == 403
    census = client.get(f"/api/v1/institutions/{world.tertiary_id}/beds",
                        headers=world.county).json()
    assert sorted((row["ward"], row["free_beds"]) for row in census) == [
        ("CCU", 1), ("心内一病区", 3)]

    rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
    pdf = b"%PDF-1.7\n" + b"0" * 2000
    sent = client.post(f"{API}/{rid}/documents", headers=world.county,
                       files={"file": ("病历.pdf", pdf, "application/pdf")})
    assert sent.status_code == 201, sent.text
    assert sent.json()["content_type"] == "application/pdf"
    fake = client.post(f"{API}/{rid}/documents", headers=world.county,
                       files={"file": ("x.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")})
    assert fake.status_code == 422 and fake.json()["code"] == "document_type"
    got = client.get(f"{API}/{rid}/documents/{sent.json()['id']}", headers=world.beijing)
    assert got.status_code == 200 and got.content == pdf
    assert session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == "referral.document.read")) is not None

    session.execute(update(Referral).where(Referral.id == rid)
                    .values(response_due_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    result = runner.invoke(app, ["referrals", "escalate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"escalated 1 overdue referrals: [{rid}]"


def test_a_draft_stays_with_the_referrer_until_it_is_sent(
    client: TestClient, world: World
) -> None:
    draft = client.post(API, headers=world.county, json=chest_pain_referral(world, draft=True))
    assert draft.status_code == 201, draft.text
    rid = draft.json()["id"]
    fhir_tasks = "/fhir/r4/Task"

    def receiver_sees() -> tuple[int, bool, bool]:
        one = client.get(f"{API}/{rid}", headers=world.beijing).status_code
        incoming = client.get(API, headers=world.beijing, params={"box": "incoming"}).json()
        tasks = client.get(fhir_tasks, headers=world.beijing).json()
        return (one, any(r["id"] == rid for r in incoming["items"]),
                any(e["resource"]["id"] == str(rid) for e in tasks.get("entry", [])))

    assert client.get(f"{API}/{rid}", headers=world.county).status_code == 200
    assert receiver_sees() == (404, False, False)
    sent = client.post(f"{API}/{rid}/submit", headers=world.county, json={})
    assert sent.status_code == 200, sent.text
    assert receiver_sees() == (200, True, True)
