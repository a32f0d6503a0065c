"""The access matrix's small seeded world, built through the real services and API.

Three institutions: A (a Huailai county hospital), B (a Baoding tertiary hospital) and C
(a Beijing hospital, only there so that B has somewhere to refer its own patient). A user of
every role sits in A (the network roles in none); B has a clinician and a clerk who make B's
data. Three patients:

- ``own``: registered at A (and the A patient account's own person);
- ``other``: registered at B only, referred by B to C: A has no way to see them;
- ``shared``: registered at B, referred by B to A and accepted there, so shared with A
  (and the subject of B's consultation request to A, which shares them too).

Referrals and consultations go the same ways: A's patient from A to B, the shared one from
B to A, B's own from B to C.

Each kind of thing a route can name (person, record, referral, settlement, institution ...)
has an id per case in :attr:`World.targets`, ``{"own": .., "shared": .., "other": ..}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import (
    make_agreement,
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from tests.settlement.setup import SONG_LINES
from yilian.audit.models import AuditEvent
from yilian.auth.models import Role, User
from yilian.auth.security import issue_token
from yilian.config import Settings
from yilian.registry import service as registry
from yilian.registry.models import PractitionerTitle
from yilian.registry.schemas import PractitionerCreate

# Names that must never appear in an answer to someone who may not see the patient.
NAMES = {"own": "甲院患者", "other": "乙院患者", "shared": "共享患者"}


@dataclass
class World:
    """Sign-in headers by role (A's users), and the ids each route's path is filled with."""

    headers: dict[Role, dict[str, str]]
    person_ids: dict[str, int]
    targets: dict[str, dict[str, int]] = field(default_factory=dict)


def _minted(settings: Settings, user: User) -> dict[str, str]:
    token = issue_token(secret_key=settings.resolved_secret_key(), user_id=user.id,
                        role=user.role.value, token_version=user.token_version,
                        minutes=settings.access_token_minutes)
    return {"Authorization": f"Bearer {token}"}


def _ok(answer: object) -> dict[str, object]:
    status = getattr(answer, "status_code", 0)
    assert status in (200, 201), getattr(answer, "text", answer)
    body: dict[str, object] = answer.json()  # type: ignore[attr-defined]
    return body


def _refer(client: TestClient, source: dict[str, str], target: dict[str, str], *,
           person_id: int, target_id: int, department_id: int) -> int:
    """A referral sent by ``source`` and accepted by ``target`` (which shares the patient)."""
    made = _ok(client.post("/api/v1/referrals", headers=source, json={
        "person_id": person_id, "target_institution_id": target_id,
        "target_department_id": department_id, "kind": "outpatient",
        "diagnosis_code": "I25.1", "diagnosis_text": "冠心病", "reason": "需专科评估",
        "consent_recorded": True,
    }))
    rid = int(str(made["id"]))
    for step, body in (("receive", {}), ("accept", {"note": "同意接收"})):
        _ok(client.post(f"/api/v1/referrals/{rid}/{step}", headers=target, json=body))
    return rid


def _consult(client: TestClient, source: dict[str, str], *, person_id: int, target_id: int,
             department_id: int) -> int:
    """A consultation request sent by ``source`` (requesting shares the patient)."""
    made = _ok(client.post("/api/v1/consultations", headers=source, json={
        "person_id": person_id, "kind": "mdt", "urgency": "urgent",
        "target_institution_id": target_id, "target_department_id": department_id,
        "target_specialty": "cardiology", "diagnosis_code": "I25.1",
        "diagnosis_text": "冠心病", "question": "PCI 还是搭桥？",
    }))
    return int(str(made["id"]))


def _settle(client: TestClient, clerk: dict[str, str], *, key: str, person_id: int,
            institution_id: int) -> int:
    made = _ok(client.post("/api/v1/settlement/settlements", headers=clerk, json={
        "idempotency_key": key, "person_id": person_id, "institution_id": institution_id,
        "admission_date": "2026-05-10", "discharge_date": "2026-05-20", "lines": SONG_LINES,
    }))
    return int(str(made["id"]))


def build(session: Session, settings: Settings, client: TestClient) -> World:
    """Seed the world and return it, committed."""
    a = make_institution(session, code="SEC-A", name="甲县医院", region_code="130730", level=2)
    b = make_institution(session, code="SEC-B", name="乙市医院", region_code="130602", level=3)
    c = make_institution(session, code="SEC-C", name="丙京医院", region_code="110102", level=3)
    make_agreement(session, b, a)
    departments = {inst.code: make_department(session, inst) for inst in (a, b, c)}
    practitioners = {
        inst.code: registry.create_practitioner(session, data=PractitionerCreate(
            code=f"{inst.code}-DOC", name="医生", sex="male",
            title=PractitionerTitle.ATTENDING_PHYSICIAN, specialty="cardiology",
            institution_code=inst.code, department_code="CARD"))
        for inst in (a, b)
    }
    people = {}
    for n, (case, home) in enumerate((("own", a), ("other", b), ("shared", b))):
        born = date(1960 + n, 3, 14)
        people[case] = register(
            session, settings, home, f"SEC-{case}", name=NAMES[case], sex="female",
            birth_date=born, id_number=resident_id_number("130730", born, 24 + n, male=False),
            insured_region_code="130730", insurance_scheme="resident",
        )
    users = {role: make_user(session, role=role, institution=None if role in (
        Role.PLATFORM_ADMIN, Role.COMMISSION_ANALYST) else a) for role in Role}
    users[Role.PATIENT].person_id = people["own"].person.id
    b_doctor = make_user(session, role=Role.CLINICIAN, institution=b)
    b_clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=b)
    c_doctor = make_user(session, role=Role.CLINICIAN, institution=c)
    session.commit()

    headers = {role: _minted(settings, user) for role, user in users.items()}
    b_head, c_head = _minted(settings, b_doctor), _minted(settings, c_doctor)
    a_head = headers[Role.CLINICIAN]
    person_ids = {case: made.person.id for case, made in people.items()}
    referrals = {
        "own": _refer(client, a_head, b_head, person_id=person_ids["own"], target_id=b.id,
                      department_id=departments["SEC-B"].id),
        "shared": _refer(client, b_head, a_head, person_id=person_ids["shared"],
                         target_id=a.id, department_id=departments["SEC-A"].id),
        "other": _refer(client, b_head, c_head, person_id=person_ids["other"], target_id=c.id,
                        department_id=departments["SEC-C"].id),
    }
    consultations = {
        "own": _consult(client, a_head, person_id=person_ids["own"], target_id=b.id,
                        department_id=departments["SEC-B"].id),
        "shared": _consult(client, b_head, person_id=person_ids["shared"], target_id=a.id,
                           department_id=departments["SEC-A"].id),
        "other": _consult(client, b_head, person_id=person_ids["other"], target_id=c.id,
                          department_id=departments["SEC-C"].id),
    }
    a_clerk = headers[Role.INSURANCE_CLERK]
    settlements = {
        "own": _settle(client, a_clerk, key="sec-own-0001", person_id=person_ids["own"],
                       institution_id=a.id),
        "shared": _settle(client, _minted(settings, b_clerk), key="sec-shared-0001",
                          person_id=person_ids["shared"], institution_id=b.id),
        "other": _settle(client, _minted(settings, b_clerk), key="sec-other-0001",
                         person_id=person_ids["other"], institution_id=b.id),
    }
    audit_rows = {
        "own": session.scalar(select(AuditEvent.id).where(AuditEvent.institution_id == a.id)),
        "other": session.scalar(select(AuditEvent.id).where(AuditEvent.institution_id == c.id)),
    }
    world = World(headers=headers, person_ids=person_ids)
    world.targets = {
        "person": person_ids,
        "record": {case: made.record.id for case, made in people.items()},
        "referral": referrals,
        "consultation": consultations,
        "settlement": settlements,
        "institution": {"own": a.id, "other": b.id},
        "department": {"own": departments["SEC-A"].id, "other": departments["SEC-B"].id},
        "practitioner": {"own": practitioners["SEC-A"].id, "other": practitioners["SEC-B"].id},
        "audit": {case: int(row or 0) for case, row in audit_rows.items()},
    }
    return world
