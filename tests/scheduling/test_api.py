"""The scheduling API, pages and CLI as a patient, a clinician and an administrator use them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import bearer
from tests.scheduling.world import World, build
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.cli import app as cli
from yilian.config import Settings
from yilian.scheduling.models import AppointmentStatus, AppointmentStatusChange


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    return build(session, settings)


def test_a_patient_books_over_the_api_and_the_loser_hears_full(
    client: TestClient, world: World
) -> None:
    song = bearer(client, world.song.username)
    doctor = bearer(client, world.doctor.username)
    slots = client.get("/api/v1/scheduling/slots",
                       params={"practitioner_id": world.expert.id, "day": str(world.tuesday)},
                       headers=song).json()
    assert len(slots) == 20
    booked = client.post("/api/v1/scheduling/appointments", json={"slot_id": slots[0]["id"]},
                         headers=song)
    assert booked.status_code == 201, booked.text
    assert booked.json()["status"] == "booked" and booked.json()["source"] == "online"
    lost = client.post("/api/v1/scheduling/appointments",
                       json={"slot_id": slots[0]["id"], "person_id": world.others[0],
                             "source": "window"}, headers=doctor)
    assert lost.status_code == 409
    assert lost.json()["code"] == "slot_full"
    assert "号源已满" in lost.json()["message_zh"] and "full" in lost.json()["message_en"]
    mine = client.get("/api/v1/scheduling/appointments/mine", headers=song).json()
    assert [a["code"] for a in mine] == [booked.json()["code"]]
    appointment_id = booked.json()["id"]
    outsider = bearer(client, world.outsider.username)
    assert client.get(f"/api/v1/scheduling/appointments/{appointment_id}",
                      headers=outsider).status_code == 404
    illegal = client.post(f"/api/v1/scheduling/appointments/{appointment_id}/status",
                          json={"status": "fulfilled"}, headers=doctor)
    assert illegal.status_code == 409 and illegal.json()["code"] == (
        "illegal_appointment_transition")
    # The expert is called away: the Tuesday clinic is off and Song is told.
    admin = bearer(client, world.admin.username)
    off = client.post("/api/v1/scheduling/exceptions", headers=admin, json={
        "kind": "absence", "start_date": str(world.tuesday), "end_date": str(world.tuesday),
        "practitioner_id": world.expert.id, "reason": "赴京会诊"})
    assert off.status_code == 201 and off.json()["cancelled_appointments"] == 1
    told = client.get("/api/v1/inbox", headers=song).json()["items"]
    assert [i["notification"]["kind"] for i in told] == ["appointment.cancelled"]
    assert "赴京会诊" in told[0]["notification"]["body_zh"]
    assert told[0]["notification"]["link"] == "/scheduling/mine"
    roster = client.get(f"/api/v1/scheduling/institutions/{world.huailai.id}/stationings",
                        headers=song).json()
    assert [(r["practitioner_name"], r["mode"]) for r in roster] == [("张建", "periodic")]


def test_the_patient_pages_show_slots_the_code_and_the_notice(
    client: TestClient, world: World, runner: CliRunner
) -> None:
    client.headers["Accept"] = BROWSER_ACCEPT
    sign_in(client, world.song.username)
    page = client.get(f"/scheduling/book/slots?practitioner_id={world.expert.id}")
    assert page.status_code == 200 and "张建" in page.text
    slot_id = int(page.text.split('name="slot_id" value="')[1].split('"')[0])
    booked = client.post("/scheduling/book", data={"slot_id": slot_id,
                                                   "practitioner_id": world.expert.id,
                                                   "csrf_token": csrf_of(page.text)})
    assert booked.status_code == 200 and 'id="appointment-code"' in booked.text
    again = client.post("/scheduling/book", data={"slot_id": slot_id,
                                                  "practitioner_id": world.expert.id,
                                                  "csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "号源已满" in again.text  # the slots page, told why
    mine = client.get("/scheduling/mine")
    assert "张建" in mine.text and "已预约" in mine.text
    roster = client.get(f"/scheduling/institutions/{world.huailai.id}/experts")
    assert "执行主任" in roster.text and "李红" in roster.text
    result = runner.invoke(cli, ["scheduling", "generate", "--days", "28"])
    assert result.exit_code == 0, result.output
    assert "20 slots created" in result.output
    assert runner.invoke(cli, ["scheduling", "mark-noshow"]).exit_code == 0


def test_a_patient_cancels_over_the_api_with_a_reason_kept_in_the_history(
    client: TestClient, world: World, session: Session
) -> None:
    song = bearer(client, world.song.username)
    slots = client.get("/api/v1/scheduling/slots",
                       params={"practitioner_id": world.expert.id, "day": str(world.tuesday)},
                       headers=song).json()
    def book(slot: dict[str, object]) -> dict[str, object]:
        made = client.post("/api/v1/scheduling/appointments", json={"slot_id": slot["id"]},
                           headers=song)
        assert made.status_code == 201, made.text
        return dict(made.json())

    first = book(slots[0])
    with_reason = client.post(f"/api/v1/scheduling/appointments/{first['id']}/cancel",
                              json={"reason": "家中有事，改约下周"}, headers=song)
    assert with_reason.status_code == 200, with_reason.text
    assert with_reason.json()["status"] == "cancelled"
    second = book(slots[1])  # one a day per department: free again after the cancellation
    plain = client.post(f"/api/v1/scheduling/appointments/{second['id']}/cancel", headers=song)
    assert plain.status_code == 200 and plain.json()["status"] == "cancelled"
    notes = dict(session.execute(
        select(AppointmentStatusChange.appointment_id, AppointmentStatusChange.note)
        .where(AppointmentStatusChange.to_status == AppointmentStatus.CANCELLED)).all())
    assert notes[first["id"]].endswith("家中有事，改约下周")
    assert notes[second["id"]] == f"cancelled by {world.song.username}"
    # The slots are free again for the next patient.
    again = client.get("/api/v1/scheduling/slots",
                       params={"practitioner_id": world.expert.id, "day": str(world.tuesday)},
                       headers=song).json()
    assert {slots[0]["id"], slots[1]["id"]} <= {s["id"] for s in again if s["status"] == "free"}
