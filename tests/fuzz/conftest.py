"""One small network per backend and module for the fuzzers, and the checks they share.

Fuzzing sends hundreds of requests; a fresh database per example would cost more than the
requests. Each module gets its own migrated database (``private_database``), a few
institutions, a patient and three signed-in accounts, and the fuzzers run against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import TEST_FIELD_KEY, Backend, private_database
from tests.factories import (
    bearer,
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.app import create_app
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import Base
from yilian.registry.models import Institution

SONG_ID = resident_id_number("130730", date(1968, 3, 14), 123, male=False)


@dataclass
class World:
    """The fuzzers' network: the app, a client and the headers of each account."""

    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    settings: Settings
    county: Institution  # 怀来县医院 HLCOUNTY
    pku: Institution  # 北京大学人民医院 PKUPH
    department_id: int  # PKUPH cardiology
    person_id: int  # 宋秀兰, registered at the county hospital as 000123
    admin: dict[str, str]  # a platform administrator
    doctor: dict[str, str]  # a clinician of the county hospital
    his: dict[str, str]  # the county hospital's interface account (a hospital administrator)

    def counts(self) -> dict[str, int]:
        """Rows in every table but the audit trail (refusals are audited on purpose)."""
        with self.sessions() as session:
            return {
                table.name: session.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables
                if table.name != "audit_event"
            }


@pytest.fixture(scope="module")
def world(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The network on a database of its own, for the whole module."""
    with private_database(backend, tmp_path_factory, "fuzz") as url:
        settings = Settings(
            database_url=url,
            secret_key="test-secret-key-not-for-production-0123456789",
            secret_file=Path(tmp_path_factory.mktemp("fuzz_secret")) / "unused.secret",
            field_key=TEST_FIELD_KEY,
            log_json=True,
            log_level="CRITICAL",
        )
        app = create_app(settings)
        sessions: sessionmaker[Session] = app.state.sessionmaker
        with sessions() as session:
            county = make_institution(session, code="HLCOUNTY", name="怀来县医院")
            pku = make_institution(session, code="PKUPH", name="北京大学人民医院",
                                   region_code="110102", level=3)
            make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                             parent_code="PKUPH")
            cardiology = make_department(session, pku)
            make_user(session, role=Role.PLATFORM_ADMIN, username="fz_admin")
            make_user(session, role=Role.CLINICIAN, institution=county, username="fz_doctor")
            make_user(session, role=Role.HOSPITAL_ADMIN, institution=county, username="fz_his")
            song = register(session, settings, county, "000123", name="宋秀兰", sex="female",
                            birth_date=date(1968, 3, 14), id_number=SONG_ID)
            register(session, settings, county, "000125", name="宋秀兰", sex="female",
                     birth_date=date(1968, 3, 14), phone="13812345678")
            session.commit()
            department_id, person_id = cardiology.id, song.person.id
        try:
            with TestClient(app) as client:
                yield World(
                    app, client, sessions, settings, county, pku, department_id, person_id,
                    admin=bearer(client, "fz_admin"),
                    doctor=bearer(client, "fz_doctor"),
                    his=bearer(client, "fz_his"),
                )
        finally:
            app.state.engine.dispose()


def is_clear_error(body: Any) -> bool:
    """An error body a user can read: the API's shape, or a FHIR OperationOutcome."""
    if not isinstance(body, dict):
        return False
    if body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or []
        return bool(issues) and all(
            isinstance(issue, dict) and str((issue.get("details") or {}).get("text", "")).strip()
            for issue in issues
        )
    return all(isinstance(body.get(key), str) and body[key].strip()
               for key in ("code", "detail", "message_zh", "message_en"))
