"""The audit REST API: filters, scope by institution, and a trail nobody can change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.audit.trail import Trail
from yilian.audit.models import AuditEvent
from yilian.db import utcnow


def listed(client: TestClient, headers: dict[str, str], **filters: Any) -> dict[str, Any]:
    response = client.get("/api/v1/audit", params=filters, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_filters_narrow_the_trail(client: TestClient, trail: Trail) -> None:
    root = trail.root

    assert ids(listed(client, root, actor="bd_doctor")) == [trail.patient_read.id]
    assert ids(listed(client, root, patient_id=42)) == [trail.patient_read.id]
    assert ids(listed(client, root, outcome="denied")) == [trail.refused_update.id]
    about_department = listed(client, root, entity_type="department",
                              entity_id=str(trail.huailai_cardiology.id))
    assert [item["action"] for item in about_department["items"]] == [
        "department.update", "department.create"  # newest first; the creation was automatic
    ]
    assert ids(about_department)[0] == trail.campus_update.id
    department_changes = listed(client, root, action="department.")  # an action's start
    assert ids(department_changes)[0] == trail.campus_update.id
    assert {item["action"] for item in department_changes["items"]} == {
        "department.create", "department.update"
    }
    at_huailai = listed(client, root, institution_id=trail.huailai.id)
    assert trail.campus_update.id in ids(at_huailai)
    assert all(item["institution_id"] == trail.huailai.id for item in at_huailai["items"])


def test_time_window_and_paging(client: TestClient, trail: Trail) -> None:
    now = utcnow()
    everything = listed(client, trail.root, limit=200)

    assert listed(client, trail.root, until=(now - timedelta(days=1)).isoformat())["total"] == 0
    recent = listed(client, trail.root, since=(now - timedelta(hours=1)).isoformat(), limit=200)
    assert recent["total"] == everything["total"]
    second_page = listed(client, trail.root, offset=2, limit=2)
    assert second_page["total"] == everything["total"]
    assert ids(second_page) == ids(everything)[2:4]
    assert (second_page["offset"], second_page["limit"]) == (2, 2)


def test_a_time_without_zone_is_refused(client: TestClient, trail: Trail) -> None:
    response = client.get("/api/v1/audit?since=2026-01-01T00:00:00", headers=trail.root)

    assert response.status_code == 422
    assert response.json()["message_en"]


def test_record_shows_its_detail(client: TestClient, trail: Trail) -> None:
    response = client.get(f"/api/v1/audit/{trail.campus_update.id}", headers=trail.root)

    assert response.status_code == 200
    record = response.json()
    assert record["actor"] == "pk_admin"
    assert record["detail"] == {"fields": ["beds"]}
    assert record["outcome"] == "success"


def test_hospital_admin_reads_only_their_institutions(
    client: TestClient, session: Session, trail: Trail
) -> None:
    page = listed(client, trail.baoding_admin, limit=200)

    assert trail.patient_read.id in ids(page)
    assert trail.campus_update.id not in ids(page)
    assert all(
        trail.baoding.id in (item["institution_id"], item["actor_institution_id"])
        for item in page["items"]
    )
    hidden = client.get(f"/api/v1/audit/{trail.campus_update.id}", headers=trail.baoding_admin)
    assert hidden.status_code == 404
    assert trail.campus_update.id in ids(listed(client, trail.pkuph_admin, limit=200))


def test_clinician_may_not_read_the_trail(client: TestClient, trail: Trail) -> None:
    response = client.get("/api/v1/audit", headers=trail.baoding_doctor)

    assert response.status_code == 403
    assert response.json()["message_en"].endswith("audit.read")
    assert response.json()["message_zh"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_no_route_changes_or_removes_a_record(
    client: TestClient, session: Session, trail: Trail, method: str
) -> None:
    path = f"/api/v1/audit/{trail.patient_read.id}"
    before = client.get(path, headers=trail.root).json()

    response = client.request(method, path, headers=trail.root, json={"actor": "nobody"})

    assert response.status_code == 405
    assert client.get(path, headers=trail.root).json() == before
    assert client.post("/api/v1/audit", headers=trail.root, json={}).status_code == 405


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'nobody' WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
    ],
)
def test_the_database_refuses_to_change_a_record(
    session: Session, trail: Trail, statement: str
) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement), {"id": trail.patient_read.id})
    session.rollback()

    row = session.scalars(
        select(AuditEvent).where(AuditEvent.id == trail.patient_read.id)
        .execution_options(populate_existing=True)
    ).one()
    assert row.actor == "bd_doctor"
