"""Signing in: tokens, wrong passwords, throttling, revocation."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, make_institution, make_user
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role


def test_clinician_gets_a_token_and_sees_their_institution(
    client: TestClient, session: Session
) -> None:
    hospital = make_institution(session, code="HLX")
    campus = make_institution(session, code="HLX-C", parent_code="HLX")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=hospital, username="zhang")
    session.commit()

    me = client.get("/api/v1/auth/me", headers=bearer(client, "zhang"))

    assert me.status_code == 200
    assert me.json()["role"] == "hospital_admin"
    # a lead hospital acts for the campuses it runs
    assert me.json()["institution_ids"] == sorted([hospital.id, campus.id])


def test_wrong_password_is_401_with_bilingual_message_and_audited(
    client: TestClient, session: Session
) -> None:
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()

    response = client.post("/api/v1/auth/token", data={"username": "root", "password": "nope1234"})

    assert response.status_code == 401
    assert response.json()["message_zh"] == "用户名或密码错误"
    assert response.json()["message_en"] == "Wrong username or password"
    outcomes = session.scalars(
        select(AuditEvent.outcome).where(AuditEvent.action == "auth.login")
    ).all()
    assert outcomes == [AuditOutcome.FAILED]


def test_repeated_failures_throttle_even_the_right_password(
    client: TestClient, session: Session
) -> None:
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": "root", "password": "guess123"})

    response = client.post("/api/v1/auth/token", data={"username": "root", "password": PASSWORD})

    assert response.status_code == 429
    assert "分钟后再试" in response.json()["message_zh"]


def test_revoked_token_no_longer_works(client: TestClient, session: Session) -> None:
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    session.commit()
    headers = bearer(client, "analyst")

    assert client.post("/api/v1/auth/revoke", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_no_credentials_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_sign_in_is_audited_as_the_user_who_signed_in(
    client: TestClient, session: Session
) -> None:
    hospital = make_institution(session)
    user = make_user(session, role=Role.CLINICIAN, institution=hospital, username="wang")
    session.commit()

    bearer(client, "wang")

    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.login")).one()
    assert (event.actor, event.actor_user_id, event.outcome) == ("wang", user.id, "success")
    assert event.actor_institution_id == hospital.id
    created = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "app_user.create")
    ).one()
    assert created.entity_id == str(user.id)
