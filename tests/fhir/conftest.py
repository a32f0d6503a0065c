"""A small Beijing–Hebei network for the FHIR tests, and FHIR checking helpers."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from tests.audit.trail import Trail, build_trail
from tests.factories import bearer, make_department, make_institution, make_user
from yilian.auth.models import Role
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Institution,
    InstitutionKind,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate


def make_practitioner(
    session: Session,
    institution: Institution,
    *,
    code: str,
    name: str,
    department: Department | None = None,
    title: PractitionerTitle = PractitionerTitle.CHIEF_PHYSICIAN,
    license_number: str = "",
) -> Practitioner:
    """A practitioner at home in the institution."""
    return registry.create_practitioner(
        session,
        data=PractitionerCreate(
            code=code, name=name, sex="male", title=title, specialty="cardiology",
            institution_code=institution.code,
            department_code=department.code if department else None,
            license_number=license_number,
        ),
    )


def make_role(
    session: Session,
    practitioner: Practitioner,
    institution: Institution,
    *,
    role: PractitionerRoleKind,
    start: date,
    end: date | None = None,
    department: Department | None = None,
) -> PractitionerRole:
    """A role the practitioner holds at an institution."""
    return registry.create_role(
        session,
        data=PractitionerRoleCreate(
            practitioner_code=practitioner.code, institution_code=institution.code,
            department_code=department.code if department else None,
            role=role, start_date=start, end_date=end,
        ),
    )


@dataclass
class Network:
    """PKU People's Hospital running its Huailai campus, and a Baoding children's hospital."""

    pkuph: Institution
    huailai: Institution
    baoding: Institution
    cardiology: Department  # of PKUPH
    huailai_cardiology: Department
    expert: Practitioner  # PKUPH cardiologist stationed at Huailai
    local_doctor: Practitioner  # at home in Huailai
    stationed: PractitionerRole
    past_visit: PractitionerRole  # a visiting-clinic role that ended in 2023


@pytest.fixture
def network(session: Session) -> Network:
    """The network, committed."""
    pkuph = make_institution(session, code="PKUPH", name="北京大学人民医院",
                             region_code="110102", level=3)
    huailai = make_institution(session, code="PKUPH-HL", name="北京大学人民医院怀来院区",
                               region_code="130730", level=2, parent_code="PKUPH")
    baoding = make_institution(session, code="BCH-BD", name="北京儿童医院保定医院",
                               region_code="130602", level=3,
                               kind=InstitutionKind.CHILDREN_HOSPITAL)
    cardiology = make_department(session, pkuph)
    huailai_cardiology = make_department(session, huailai)
    expert = make_practitioner(session, pkuph, code="D001", name="王建国",
                               department=cardiology, license_number="110000201812345")
    local_doctor = make_practitioner(session, huailai, code="D002", name="李明",
                                     title=PractitionerTitle.ATTENDING_PHYSICIAN)
    stationed = make_role(session, expert, huailai, role=PractitionerRoleKind.STATIONED_EXPERT,
                          start=date(2024, 3, 1), department=huailai_cardiology)
    past_visit = make_role(session, expert, baoding, role=PractitionerRoleKind.VISITING_EXPERT,
                           start=date(2023, 1, 1), end=date(2023, 12, 31))
    session.commit()
    return Network(pkuph, huailai, baoding, cardiology, huailai_cardiology, expert,
                   local_doctor, stationed, past_visit)


@pytest.fixture
def reader(client: TestClient, session: Session, network: Network) -> dict[str, str]:
    """Headers of a Huailai clinician: may read the registry, not the audit trail."""
    make_user(session, role=Role.CLINICIAN, institution=network.huailai, username="doctor")
    session.commit()
    return bearer(client, "doctor")


def fhir_json(response: Response, status_code: int = 200) -> dict[str, Any]:
    """The FHIR body of a response, after checking its status and media type."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    return body


def assert_valid(resource: dict[str, Any]) -> None:
    """The resource validates against its fhir.resources R4B model."""
    resource_type = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    getattr(module, resource_type).model_validate(resource)


def entry_ids(bundle: dict[str, Any]) -> list[str]:
    """Logical ids of a searchset's matches, in order."""
    return [
        entry["resource"]["id"]
        for entry in bundle.get("entry", [])
        if entry["search"]["mode"] == "match"
    ]


def link(bundle: dict[str, Any], relation: str) -> str | None:
    """The URL of a bundle link, if present."""
    return next((item["url"] for item in bundle["link"] if item["relation"] == relation), None)


@pytest.fixture
def trail(client: TestClient, session: Session) -> Trail:
    """Three institutions, their administrators and a few audit events."""
    return build_trail(client, session)
