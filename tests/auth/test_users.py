"""Managing user accounts through the API, within each administrator's reach."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_institution, make_user
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role, User


def _new_user(role: str, institution_code: str | None) -> dict[str, object]:
    return {"username": "new", "password": "Welcome2026!", "role": role,
            "institution_code": institution_code}


def test_hospital_admin_adds_a_clinician_to_their_campus(
    client: TestClient, session: Session
) -> None:
    lead = make_institution(session, code="PKUPH", level=3)
    make_institution(session, code="HUAILAI", parent_code="PKUPH")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=lead, username="admin")
    session.commit()

    response = client.post("/api/v1/users", json=_new_user("clinician", "HUAILAI"),
                           headers=bearer(client, "admin"))

    assert response.status_code == 201, response.text
    assert client.post(
        "/api/v1/auth/token", data={"username": "new", "password": "Welcome2026!"}
    ).status_code == 200


def test_hospital_admin_cannot_add_staff_elsewhere_or_make_admins(
    client: TestClient, session: Session
) -> None:
    mine = make_institution(session, code="MINE")
    make_institution(session, code="OTHER")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=mine, username="admin")
    session.commit()
    headers = bearer(client, "admin")

    elsewhere = client.post("/api/v1/users", json=_new_user("clinician", "OTHER"),
                            headers=headers)
    admin = client.post("/api/v1/users", json=_new_user("hospital_admin", "MINE"),
                        headers=headers)

    assert elsewhere.status_code == 403
    assert admin.status_code == 403
    session.expire_all()
    assert session.scalars(select(User).where(User.username == "new")).first() is None
    denied = session.scalars(
        select(AuditEvent).where(AuditEvent.outcome == AuditOutcome.DENIED)
    ).all()
    assert len(denied) == 2
    assert {event.actor for event in denied} == {"admin"}


def test_clinicians_cannot_manage_users(client: TestClient, session: Session) -> None:
    hospital = make_institution(session)
    make_user(session, role=Role.CLINICIAN, institution=hospital, username="doc")
    session.commit()

    response = client.get("/api/v1/users", headers=bearer(client, "doc"))

    assert response.status_code == 403
    assert response.json()["message_en"].startswith("A clinician may not do this")


def test_weak_password_is_refused_with_a_clear_message(
    client: TestClient, session: Session
) -> None:
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()

    response = client.post(
        "/api/v1/users",
        json={**_new_user("commission_analyst", None), "password": "abcdefgh"},
        headers=bearer(client, "root"),
    )

    assert response.status_code == 422
    assert "字母和数字" in response.json()["message_zh"]


def test_only_a_patients_account_names_a_person_and_the_person_must_exist(
    session: Session,
) -> None:
    from yilian.auth import service as users
    from yilian.errors import InvalidInput
    from yilian.patients.models import Person, Sex

    clinic = make_institution(session, code="CLINIC")
    person = Person(name="宋桂兰", sex=Sex.FEMALE)
    session.add(person)
    session.flush()
    patient = make_user(session, role=Role.PATIENT, institution=clinic)
    clinician = make_user(session, role=Role.CLINICIAN, institution=clinic)

    users.link_patient(session, user=patient, person_id=person.id)
    assert users.principal_for(session, user=patient).person_id == person.id
    for user, person_id, code in ((clinician, person.id, "person_not_allowed"),
                                  (patient, person.id + 1000, "unknown_person")):
        try:
            users.link_patient(session, user=user, person_id=person_id)
        except InvalidInput as refused:
            assert refused.code == code
        else:
            raise AssertionError(f"{user.username} linked to {person_id}")
    assert clinician.person_id is None
