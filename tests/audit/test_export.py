"""Audit export (API and command line), retention setting, and no way to delete records."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import bearer, make_institution, make_user
from yilian.audit.cli import audit_app
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.cli import app as cli
from yilian.config import Settings
from yilian.routes import include_all

# Beijing is UTC+8: April in Beijing runs from 31 March 16:00 to 30 April 16:00 UTC.
RECORDS = {
    "before": datetime(2026, 3, 31, 15, 59, tzinfo=UTC),  # 31 March 23:59 in Beijing
    "first": datetime(2026, 3, 31, 16, 0, tzinfo=UTC),  # 1 April 00:00 in Beijing
    "last": datetime(2026, 4, 30, 15, 59, tzinfo=UTC),  # 30 April 23:59 in Beijing
    "after": datetime(2026, 4, 30, 16, 0, tzinfo=UTC),  # 1 May 00:00 in Beijing
}


def add_records(session: Session) -> None:
    """One record per moment above; the actor says which (one looks like a formula)."""
    session.execute(insert(AuditEvent), [
        {"recorded_at": at, "actor": "=HYPERLINK(\"x\")" if name == "first" else name,
         "actor_role": "", "action": "patient.read", "entity_type": "patient",
         "entity_id": name, "outcome": AuditOutcome.SUCCESS, "client_ip": "",
         "user_agent": "", "request_id": "", "detail": json.dumps({"which": name})}
        for name, at in RECORDS.items()
    ])
    session.commit()


def test_platform_admin_exports_april_and_only_april_as_csv(
    client: TestClient, session: Session
) -> None:
    hospital = make_institution(session)
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=hospital, username="hadm")
    session.commit()
    add_records(session)

    response = client.get("/api/v1/audit/export?from=2026-04-01&to=2026-04-30",
                          headers=bearer(client, "root"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="audit-2026-04-01-2026-04-30.csv"' in response.headers[
        "content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["entity_id"] for row in table] == ["first", "last"]
    assert table[0]["actor"] == "'=HYPERLINK(\"x\")"  # no formula when opened in Excel
    assert json.loads(table[1]["detail"]) == {"which": "last"}
    exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert exported.actor == "root"
    assert json.loads(exported.detail)["records"] == 2
    refused = client.get("/api/v1/audit/export?from=2026-04-01&to=2026-04-30",
                         headers=bearer(client, "hadm"))
    assert refused.status_code == 403  # a hospital administrator reads, but cannot export


def test_command_line_export_writes_json_lines_and_is_audited(
    runner: CliRunner, session: Session, tmp_path: Path
) -> None:
    add_records(session)
    target = tmp_path / "april.jsonl"

    result = runner.invoke(cli, ["audit", "export", "--from", "2026-04-01", "--to", "2026-04-30",
                                 "--format", "jsonl", "--output", str(target)])

    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [(r["entity_id"], r["detail"]) for r in records] == [
        ("first", {"which": "first"}), ("last", {"which": "last"})]
    assert records[0]["actor"] == "=HYPERLINK(\"x\")"  # JSON Lines keeps values as they are
    exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
    assert exported.actor.startswith("cli:")
    backwards = runner.invoke(cli, ["audit", "export", "--from", "2026-04-30", "--to",
                                    "2026-04-01", "--output", str(tmp_path / "x.csv")])
    assert backwards.exit_code == 1 and "last day" in backwards.output
    assert not (tmp_path / "x.csv").exists()


def test_retention_below_six_months_is_refused() -> None:
    with pytest.raises(ValidationError, match="YILIAN_AUDIT_RETENTION_DAYS must be at least 180"):
        Settings(audit_retention_days=179)
    assert Settings(audit_retention_days=180).audit_retention_days == 180
    assert Settings().audit_retention_days >= 180


def test_retention_below_six_months_stops_the_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yilian.config import get_settings

    monkeypatch.setenv("YILIAN_AUDIT_RETENTION_DAYS", "90")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["audit", "status"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "at least 180" in result.output and "Traceback" not in result.output


def test_no_route_or_command_changes_or_deletes_audit_records() -> None:
    app = FastAPI()
    include_all(app)
    audit_routes = [route for route in app.routes
                    if isinstance(route, APIRoute) and "audit" in route.path.lower()]

    assert {"/api/v1/audit", "/api/v1/audit/export", "/fhir/r4/AuditEvent"} <= {
        route.path for route in audit_routes}
    assert all(route.methods <= {"GET", "HEAD"} for route in audit_routes), audit_routes
    assert {command.name for command in audit_app.registered_commands} == {"export", "status"}
