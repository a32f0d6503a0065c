"""A small referral network: a Beijing tertiary hospital with a chest-pain centre, a county
hospital it runs by trusteeship, and a township health centre; a clinician at each end and
a patient registered at the county hospital."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import (
    bearer,
    make_agreement,
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.registry import service as registry
from yilian.registry.models import EmergencyCentre, PractitionerRoleKind, PractitionerTitle
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate


@dataclass
class World:
    """Ids and sign-in headers of the small network."""

    tertiary_id: int
    county_id: int
    township_id: int
    cardiology_id: int  # the tertiary hospital's
    county_cardiology_id: int
    person_id: int
    head_practitioner_id: int
    county: dict[str, str]  # a county clinician's bearer header
    beijing: dict[str, str]  # a tertiary clinician's
    township: dict[str, str]


def build_world(session: Session, settings: Settings, client: TestClient) -> World:
    """Create the network, its clinicians and the patient, and sign the clinicians in."""
    tertiary = make_institution(session, code="BJ-T", region_code="110102", level=3,
                                centres=[EmergencyCentre.CHEST_PAIN, EmergencyCentre.STROKE])
    county = make_institution(session, code="HB-C", level=2)
    township = make_institution(session, code="HB-W", level=1)
    make_agreement(session, tertiary, county)
    cardiology = make_department(session, tertiary)
    county_cardiology = make_department(session, county)
    head = registry.create_practitioner(session, data=PractitionerCreate(
        code="BJ-T-HEAD", name="张主任", sex="male", title=PractitionerTitle.CHIEF_PHYSICIAN,
        specialty="cardiology", institution_code="BJ-T", department_code="CARD",
    ))
    registry.create_role(session, data=PractitionerRoleCreate(
        practitioner_code=head.code, institution_code="BJ-T", department_code="CARD",
        role=PractitionerRoleKind.DEPARTMENT_DIRECTOR, start_date=date(2020, 1, 1),
    ))
    born = date(1962, 3, 14)
    person = register(session, settings, county, "HB-C-0001", name="宋桂兰", sex="female",
                      birth_date=born,
                      id_number=resident_id_number("130730", born, 2, male=False)).person
    names = {}
    for label, institution in (("county", county), ("beijing", tertiary),
                               ("township", township)):
        names[label] = make_user(session, role=Role.CLINICIAN, institution=institution).username
    session.commit()
    return World(
        tertiary_id=tertiary.id, county_id=county.id, township_id=township.id,
        cardiology_id=cardiology.id, county_cardiology_id=county_cardiology.id,
        person_id=person.id, head_practitioner_id=head.id,
        county=bearer(client, names["county"]), beijing=bearer(client, names["beijing"]),
        township=bearer(client, names["township"]),
    )


@pytest.fixture
def world(session: Session, settings: Settings, client: TestClient) -> World:
    """The small network, signed in."""
    return build_world(session, settings, client)


def chest_pain_referral(world: World, **changes: object) -> dict[str, object]:
    """An emergency chest-pain referral from the county hospital to Beijing cardiology."""
    body: dict[str, object] = {
        "person_id": world.person_id,
        "target_institution_id": world.tertiary_id,
        "target_department_id": world.cardiology_id,
        "kind": "inpatient",
        "urgency": "emergency",
        "green_channel": "chest_pain",
        "diagnosis_code": "I21.9",
        "diagnosis_text": "急性心肌梗死",
        "reason": "急性 ST 段抬高型心肌梗死，需急诊 PCI",
        "clinical_summary": "胸痛 2 小时，心电图 V1-V4 ST 段抬高",
        "consent_recorded": True,
        "consent_note": "患者本人同意",
    }
    body.update(changes)
    return body
