"""Helpers for page tests: sign in through the real form, read the CSRF token of a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_agreement, make_department, make_institution, make_user
from yilian.auth.models import Role
from yilian.registry.models import (
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    InstitutionGrade,
    InstitutionKind,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for pages as a browser does (form posts accept HTML too)."""
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF_FIELD.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form, as a browser would."""
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "next": "/",
              "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@dataclass
class Network:
    """A small network: a Beijing hospital running a Hebei county campus, and others."""

    beijing: Institution
    huailai: Institution
    baoding_children: Institution
    baoding_township: Institution
    huailai_cardiology: Department
    beijing_cardiology: Department


@pytest.fixture
def network(session: Session) -> Network:
    """Institutions, departments, an agreement and one user per role (password PASSWORD)."""
    beijing = make_institution(
        session, code="PKUPH", name="北京大学人民医院", region_code="110102", level=3,
        centres=[EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE],
    )
    huailai = make_institution(
        session, code="PKUPH-HL", name="北京大学人民医院怀来院区", region_code="130730",
        level=3, parent_code="PKUPH", centres=[EmergencyCentre.CHEST_PAIN],
    )
    baoding_children = make_institution(
        session, code="BCH-BD", name="保定市儿童医院", region_code="130602", level=3,
        kind=InstitutionKind.CHILDREN_HOSPITAL,
    )
    baoding_township = make_institution(
        session, code="BD-TWN", name="竞秀区乡镇卫生院", region_code="130602", level=1,
        grade=InstitutionGrade.UNGRADED, kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE,
    )
    make_institution(session, code="HL-COUNTY", name="怀来县医院", region_code="130730", level=2)
    huailai_cardiology = make_department(session, huailai)
    beijing_cardiology = make_department(session, beijing)
    make_agreement(session, beijing, huailai, type=AgreementType.TRUSTEESHIP)
    make_agreement(session, baoding_children, baoding_township,
                   type=AgreementType.SPECIALTY_ALLIANCE)
    make_user(session, role=Role.PLATFORM_ADMIN, username="admin")
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=huailai, username="hladmin")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=beijing, username="bjadmin")
    make_user(session, role=Role.CLINICIAN, institution=huailai, username="doctor")
    make_user(session, role=Role.INSURANCE_CLERK, institution=baoding_children, username="clerk")
    make_user(session, role=Role.PATIENT, institution=baoding_township, username="patient")
    session.commit()
    return Network(beijing, huailai, baoding_children, baoding_township,
                   huailai_cardiology, beijing_cardiology)
