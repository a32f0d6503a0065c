"""The referral tests' small network plus what a consultation needs: a coordinator (the
Beijing hospital's administrator) and three Beijing experts with accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, make_user
from tests.referrals.conftest import World, build_world
from yilian.auth import service as users
from yilian.auth.models import Role, User
from yilian.auth.security import issue_token
from yilian.config import Settings
from yilian.registry import service as registry
from yilian.registry.models import Institution, PractitionerTitle
from yilian.registry.schemas import PractitionerCreate

API = "/api/v1/consultations"
CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class Network:
    """The referral world, the coordinator and the experts (practitioner ids, headers)."""

    world: World
    coordinator: dict[str, str]
    expert_ids: list[int]
    experts: list[dict[str, str]]


def build_network(session: Session, settings: Settings, client: TestClient) -> Network:
    """The small network with a Beijing coordinator and three experts, signed in."""
    world = build_world(session, settings, client)
    tertiary = session.get(Institution, world.tertiary_id)
    assert tertiary is not None
    coordinator = make_user(session, role=Role.HOSPITAL_ADMIN, institution=tertiary)
    ids, accounts = [], []
    for code, name, specialty in (("BJ-T-E1", "李心内", "cardiology"),
                                  ("BJ-T-E2", "王心外", "cardiac_surgery"),
                                  ("BJ-T-E3", "赵影像", "radiology")):
        expert = registry.create_practitioner(session, data=PractitionerCreate(
            code=code, name=name, sex="female", title=PractitionerTitle.CHIEF_PHYSICIAN,
            specialty=specialty, institution_code="BJ-T", department_code="CARD"))
        user = users.create(session, username=f"expert-{code.lower()}", password=PASSWORD,
                            role=Role.CLINICIAN, institution_code="BJ-T",
                            practitioner_code=code)
        ids.append(expert.id)
        accounts.append(user)
    session.commit()
    return Network(world=world, coordinator=_minted(settings, coordinator), expert_ids=ids,
                   experts=[_minted(settings, user) for user in accounts])


def _minted(settings: Settings, user: User) -> dict[str, str]:
    """A bearer header issued directly (sign-in itself is tested in tests/auth): each
    password check is a deliberately slow argon2 verification."""
    token = issue_token(secret_key=settings.resolved_secret_key(), user_id=user.id,
                        role=user.role.value, token_version=user.token_version,
                        minutes=settings.access_token_minutes)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def net(session: Session, settings: Settings, client: TestClient) -> Network:
    """The network, signed in."""
    return build_network(session, settings, client)


def mdt_request(net: Network, **changes: object) -> dict[str, object]:
    """A county clinician's MDT request about the county patient."""
    body: dict[str, object] = {
        "person_id": net.world.person_id, "kind": "mdt", "urgency": "urgent",
        "target_institution_id": net.world.tertiary_id,
        "target_department_id": net.world.cardiology_id, "target_specialty": "cardiology",
        "diagnosis_code": "I25.1", "diagnosis_text": "冠状动脉粥样硬化性心脏病",
        "question": "三支病变合并糖尿病，PCI 还是搭桥？",
        "clinical_summary": "68 岁，反复胸痛半年，造影三支病变",
    }
    body.update(changes)
    return body


def next_weekday_at(weekday: int, hour: int) -> datetime:
    """The next such weekday (at least two days ahead) at this hour, Beijing time."""
    day = (datetime.now(CHINA) + timedelta(days=2)).date()
    day += timedelta(days=(weekday - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)


def requested(client: TestClient, net: Network, **changes: object) -> dict[str, object]:
    """A sent MDT request, as read back."""
    answer = client.post(API, json=mdt_request(net, **changes), headers=net.world.county)
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def accepted(client: TestClient, net: Network) -> int:
    """An MDT request accepted with the three experts."""
    cid = int(str(requested(client, net)["id"]))
    answer = client.post(f"{API}/{cid}/accept", json={"expert_ids": net.expert_ids},
                         headers=net.coordinator)
    assert answer.status_code == 200, answer.text
    return cid
