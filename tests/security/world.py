"""The access matrix's small seeded world, built through the real services and API.

Three institutions: A (a Huailai county hospital), B (a Baoding tertiary hospital) and C
(a Beijing hospital, where B refers its own patient). A user of every role sits in A (the
network roles in none); B has a clinician and a clerk who make B's data; C has a clinician
and an administrator, the sweep's second point of view (they see B's patient only, through
B's referral and consultation). Three patients:

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
from datetime import UTC, date, datetime, time, timedelta

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
from tests.results.oru import blood_count, chest_ct, oru
from tests.settlement.setup import SONG_LINES
from yilian.audit.models import AuditEvent
from yilian.auth.models import Role, User
from yilian.auth.security import issue_token
from yilian.config import Settings
from yilian.notify import service as notify
from yilian.notify.models import InboxItem, OutboxMessage
from yilian.patients.models import PatientShare, Person
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Institution,
    Practitioner,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate
from yilian.results import catalogue
from yilian.results.models import DiagnosticReport, ImagingStudy, Observation
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import HalfDay, Slot, SlotStatus
from yilian.scheduling.slots import SessionPlan, local_today

# Names that must never appear in an answer to someone who may not see the patient.
NAMES = {"own": "甲院患者", "other": "乙院患者", "shared": "共享患者"}


@dataclass
class World:
    """Sign-in headers by role (A's users), and the ids each route's path is filled with."""

    headers: dict[Role, dict[str, str]]
    person_ids: dict[str, int]
    c_headers: dict[Role, dict[str, str]] = field(default_factory=dict)  # C's staff
    targets: dict[str, dict[str, int]] = field(default_factory=dict)
    # Things that are each user's own (an inbox item): the "own" case by the caller's role.
    per_role: dict[str, dict[Role, int]] = field(default_factory=dict)


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
    agreement = make_agreement(session, b, a)
    # An agreement A is no party to: C leads a fourth hospital, D.
    d = make_institution(session, code="SEC-D", name="丁乡卫生院", region_code="110102", level=1)
    elsewhere = make_agreement(session, c, d)
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
            phone=f"1381234567{n}",
            insured_region_code="130730", insurance_scheme="resident",
        )
    users = {role: make_user(session, role=role, institution=None if role in (
        Role.PLATFORM_ADMIN, Role.COMMISSION_ANALYST) else a) for role in Role}
    users[Role.PATIENT].person_id = people["own"].person.id
    b_doctor = make_user(session, role=Role.CLINICIAN, institution=b)
    b_clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=b)
    c_doctor = make_user(session, role=Role.CLINICIAN, institution=c)
    # Whose second factor the sweep resets (which signs them out): nobody who sweeps.
    a_nurse = make_user(session, role=Role.CLINICIAN, institution=a)
    c_users = {Role.CLINICIAN: c_doctor,
               Role.HOSPITAL_ADMIN: make_user(session, role=Role.HOSPITAL_ADMIN, institution=c)}
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
    world = World(headers=headers, person_ids=person_ids, c_headers={
        role: _minted(settings, user) for role, user in c_users.items()})
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
        "agreement": {"own": agreement.id, "other": elsewhere.id},
        "user": {"own": a_nurse.id, "other": b_clerk.id},
    }
    seed_more(session, client, world, institutions={"SEC-A": a, "SEC-B": b},
              departments=departments, practitioners=practitioners, users=users,
              b_users=[b_doctor, b_clerk], b_head=b_head)
    return world


# ---------------------------------------------------------------------------------- more
# The things a patient's data also lives in, one per case: appointments, results,
# encounters and documents; and each institution's own: clinics, slots, webhooks, outbox
# messages, agreements; and each user's own inbox item.

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _clinics(session: Session, practitioners: dict[str, Practitioner],
             departments: dict[str, Department]) -> dict[str, tuple[int, list[int]]]:
    """A weekly clinic at A and at B three days from now, and its free slots' ids."""
    today = local_today()
    day = today + timedelta(days=3)
    made = {}
    for code in ("SEC-A", "SEC-B"):
        clinic = scheduling.create_session(session, principal=None, plan=SessionPlan(
            practitioner_id=practitioners[code].id, department_id=departments[code].id,
            weekday=day.weekday(), half_day=HalfDay.MORNING, start=time(8, 0),
            slot_minutes=15, slot_count=6, valid_from=today))
        made[code] = clinic
    scheduling.generate(session, today=today, horizon_days=7)
    session.commit()
    return {code: (clinic.id, list(session.scalars(
        select(Slot.id).where(Slot.clinic_session_id == clinic.id,
                              Slot.status == SlotStatus.FREE).order_by(Slot.start_at))))
        for code, clinic in made.items()}


def _post_results(client: TestClient, head: dict[str, str], *, case: str,
                  facility: str) -> None:
    """A chest CT and a blood count of the case's patient, as the hospital's LIS sends."""
    performed = datetime.now(UTC) - timedelta(days=3)
    ct = chest_ct(performed, accession=f"CT-{case}",
                  uid=f"1.2.156.112605.14038.{len(case)}{ord(case[0])}")
    message = oru(f"SEC-{case}", ct, blood_count(performed, accession=f"LAB-{case}"),
                  local_id=f"SEC-{case}", facility=facility)
    answer = client.post("/hl7/v2", content=message.encode(),
                         headers={**head, "Content-Type": "application/hl7-v2"})
    assert "MSA|AA" in answer.text, answer.text


def _encounters(client: TestClient, head: dict[str, str], *, person_id: int,
                institution_id: int, case: str) -> dict[str, int]:
    """An outpatient visit and an operation of the case's patient."""
    made = {}
    started = (datetime.now(UTC) - timedelta(days=20)).isoformat()
    for resource_type, kind in (("Encounter", "outpatient"), ("Procedure", "surgery")):
        body = _ok(client.post("/api/v1/analytics/encounters", headers=head, json={
            "resource_type": resource_type, "source_id": f"SEC-{case}-{kind}", "kind": kind,
            "person_id": person_id, "institution_id": institution_id, "started_at": started,
        }))
        made[resource_type] = int(str(body["id"]))
    return made


def _document(client: TestClient, head: dict[str, str], path: str) -> int:
    made = _ok(client.post(path, headers=head,
                           files={"file": ("record.pdf", PDF, "application/pdf")}))
    return int(str(made["id"]))


def _webhook(client: TestClient, admin: dict[str, str], institution: Institution) -> int:
    made = _ok(client.post("/api/v1/notify/webhooks", headers=admin, json={
        "institution_id": institution.id, "url": f"https://his.example/{institution.code}",
        "kinds": "security.sweep"}))
    return int(str(made["id"]))


def seed_more(session: Session, client: TestClient, world: World, *,
              institutions: dict[str, Institution], departments: dict[str, Department],
              practitioners: dict[str, Practitioner], users: dict[Role, User],
              b_users: list[User], b_head: dict[str, str]) -> None:
    """Appointments, results, encounters, documents, clinics, webhooks, inbox items."""
    a, b = institutions["SEC-A"], institutions["SEC-B"]
    a_head, people = world.headers[Role.CLINICIAN], world.person_ids
    # Who makes each case's things: A its own patient's, B its two patients'.
    home = {case: (a, a_head) if case == "own" else (b, b_head) for case in people}
    # Appointments: A books its own patient at A's clinic, B its two at B's.
    clinics = _clinics(session, practitioners, departments)
    booked = {}
    for n, (case, code, head) in enumerate((("own", "SEC-A", a_head),
                                            ("shared", "SEC-B", b_head),
                                            ("other", "SEC-B", b_head))):
        slot_id = clinics[code][1][n]
        made = _ok(client.post("/api/v1/scheduling/appointments", headers=head,
                               json={"slot_id": slot_id, "person_id": people[case]}))
        booked[case] = int(str(made["id"]))
    # Results: A's LIS sends its patient's, B's the two of its own.
    catalogue.load_jingjinji(session)
    session.commit()
    _post_results(client, world.headers[Role.HOSPITAL_ADMIN], case="own", facility="SEC-A")
    for case in ("shared", "other"):
        _post_results(client, b_head, case=case, facility="SEC-B")
    reports, observations, studies = {}, {}, {}
    for case, person_id in people.items():
        reports[case] = int(session.scalar(select(DiagnosticReport.id).where(
            DiagnosticReport.person_id == person_id).order_by(DiagnosticReport.id)) or 0)
        observations[case] = int(session.scalar(select(Observation.id).join(
            DiagnosticReport, Observation.report_id == DiagnosticReport.id).where(
            DiagnosticReport.person_id == person_id)) or 0)
        studies[case] = int(session.scalar(select(ImagingStudy.id).join(
            DiagnosticReport, ImagingStudy.report_id == DiagnosticReport.id).where(
            DiagnosticReport.person_id == person_id)) or 0)
    # Encounters and operations, documents on each referral and consultation.
    encounters = {case: _encounters(client, head, person_id=people[case],
                                    institution_id=institution.id, case=case)
                  for case, (institution, head) in home.items()}
    referral_documents = {
        case: _document(client, head,
                        f"/api/v1/referrals/{world.targets['referral'][case]}/documents")
        for case, (_, head) in home.items()}
    consultation_documents = {
        case: _document(client, head,
                        f"/api/v1/consultations/{world.targets['consultation'][case]}"
                        "/documents")
        for case, (_, head) in home.items()}
    # Webhooks of A and of B, and one announcement to both: an outbox message for each,
    # and an inbox item for every user of the world.
    platform = world.headers[Role.PLATFORM_ADMIN]
    hooks = {"own": _webhook(client, platform, a), "other": _webhook(client, platform, b)}
    everyone = [user.id for user in (*users.values(), *b_users)]
    notify.publish(session, kind="security.sweep", institution_ids=[a.id, b.id],
                   user_ids=everyone, title_zh="访问矩阵", title_en="Access matrix")
    session.commit()
    items = {user_id: item for user_id, item in session.execute(
        select(InboxItem.user_id, InboxItem.id).where(InboxItem.user_id.in_(everyone)))}
    messages = {case: int(session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.subscription_id == hook)) or 0) for case, hook in hooks.items()}
    world.per_role["inbox"] = {role: items[user.id] for role, user in users.items()}
    # Each hospital's doctor directs its department; a possible duplicate of A's patient in
    # A's review queue and of B's in B's; a merge at A and at B (of a namesake's record).
    roles = {case: registry.create_role(session, data=PractitionerRoleCreate(
        practitioner_code=f"{code}-DOC", institution_code=code, department_code="CARD",
        role=PractitionerRoleKind.DEPARTMENT_DIRECTOR, start_date=date(2020, 1, 1))).id
        for case, code in (("own", "SEC-A"), ("other", "SEC-B"))}
    session.commit()
    reviews, merges = {}, {}
    for n, case in enumerate(("own", "other")):
        head = home[case][1]
        born = session.get(Person, people[case])
        assert born is not None
        maybe = _ok(client.post("/api/v1/patients/records", headers=head, json={
            "local_id": f"SEC-{case}-2", "name": NAMES[case], "sex": "female",
            "birth_date": born.birth_date.isoformat(), "phone": "13900001111"}))
        review_ids = maybe["review_ids"]
        assert isinstance(review_ids, list) and review_ids, maybe
        reviews[case] = int(review_ids[0])
        namesake = _ok(client.post("/api/v1/patients/records", headers=head, json={
            "local_id": f"SEC-{case}-3", "name": f"重复登记{n + 1}", "sex": "male",
            "birth_date": f"199{n}-09-09"}))
        merged = _ok(client.post("/api/v1/patients/merges", headers=platform, json={
            "survivor_id": people[case], "retired_id": namesake["person_id"],
            "reason": "同一人重复建档"}))
        merges[case] = int(str(merged["id"]))
    shares = {case: int(session.scalar(select(PatientShare.id).where(
        PatientShare.person_id == person_id).order_by(PatientShare.id)) or 0)
        for case, person_id in people.items()}
    world.targets.update({
        "appointment": booked,
        "report": reports, "observation": observations, "imaging": studies,
        "encounter": {case: made["Encounter"] for case, made in encounters.items()},
        "procedure": {case: made["Procedure"] for case, made in encounters.items()},
        "referral_document": referral_documents,
        "consultation_document": consultation_documents,
        "clinic": {"own": clinics["SEC-A"][0], "other": clinics["SEC-B"][0]},
        "slot": {"own": clinics["SEC-A"][1][-1], "other": clinics["SEC-B"][1][-1]},
        "webhook": hooks,
        "message": messages,
        "inbox": {"other": items[b_users[0].id]},
        "practitioner_role": roles, "review": reviews, "merge": merges, "share": shares,
    })
