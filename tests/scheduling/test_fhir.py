"""FHIR Schedule, Slot and Appointment: read, search, create and status changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.scheduling.world import World, build
from yilian.config import Settings
from yilian.fhir.bundle import validated

FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture
def world(session: Session, settings: Settings) -> World:
    return build(session, settings)


def test_a_referral_books_a_slot_through_fhir_and_the_status_follows_fhir_rules(
    client: TestClient, world: World
) -> None:
    doctor = {**bearer(client, world.doctor.username), **FHIR}
    schedules = client.get(f"/fhir/r4/Schedule?actor=Practitioner/{world.expert.id}",
                           headers=doctor).json()
    [schedule] = [entry["resource"] for entry in schedules["entry"]]
    validated(schedule)
    slots = client.get(f"/fhir/r4/Slot?schedule=Schedule/{schedule['id']}&status=free"
                       f"&start=ge{world.tuesday}&_count=3", headers=doctor).json()
    first = slots["entry"][0]["resource"]
    assert first["status"] == "free" and slots["total"] % 20 == 0  # whole Tuesdays ahead
    body = {"resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": f"Slot/{first['id']}"}],
            "basedOn": [{"reference": "ServiceRequest/12"}],
            "participant": [{"actor": {"reference": f"Patient/{world.others[0]}"},
                             "status": "accepted"}]}
    created = client.post("/fhir/r4/Appointment", json=body, headers=doctor)
    assert created.status_code == 201, created.text
    appointment = created.json()
    validated(appointment)
    assert appointment["basedOn"] == [{"reference": "ServiceRequest/12"}]
    assert appointment["serviceCategory"][0]["coding"][0]["code"] == "referral"
    again = client.post("/fhir/r4/Appointment", json={
        **body, "participant": [{"actor": {"reference": f"Patient/{world.others[1]}"},
                                 "status": "accepted"}]}, headers=doctor)
    assert again.status_code == 409
    assert again.json()["resourceType"] == "OperationOutcome"
    assert "号源已满" in again.text
    read = client.get(f"/fhir/r4/Appointment/{appointment['id']}", headers=doctor).json()
    assert read["status"] == "booked"
    illegal = client.put(f"/fhir/r4/Appointment/{appointment['id']}",
                         json={**read, "status": "fulfilled"}, headers=doctor)
    assert illegal.status_code == 409
    cancelled = client.put(f"/fhir/r4/Appointment/{appointment['id']}",
                           json={**read, "status": "cancelled"}, headers=doctor)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.get(f"/fhir/r4/Slot/{first['id']}", headers=doctor).json()["status"] == (
        "free")
    # The patient sees her own appointments only; the outsider sees none of Huailai's.
    mine = client.get("/fhir/r4/Appointment", headers=bearer(client, world.song.username))
    assert mine.json()["total"] == 0
    outsider = client.get(f"/fhir/r4/Appointment?patient=Patient/{world.others[0]}",
                          headers=bearer(client, world.outsider.username))
    assert outsider.json()["total"] == 0
    metadata = client.get("/fhir/r4/metadata").json()
    served = {r["type"] for r in metadata["rest"][0]["resource"]}
    assert {"Schedule", "Slot", "Appointment"} <= served
