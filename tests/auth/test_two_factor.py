"""Two-factor sign-in (TOTP): enrolment, codes at sign-in on the web and the API, replays,
throttling, recovery codes, and administrators made to enrol."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, bearer, make_institution, make_user
from tests.web.conftest import BROWSER_ACCEPT, csrf_of
from yilian.app import create_app
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth import service, totp
from yilian.auth.models import Role, User, UserTotp
from yilian.config import Settings

# A fixed clock in the middle of a 30-second step, so codes never straddle a step change.
NOW = 1_796_000_015.0
SECRET_ON_PAGE = re.compile(r'<code class="totp-secret">([A-Z2-7 ]+)</code>')


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(totp, "_now", lambda: NOW)


@pytest.fixture(autouse=True, scope="module")
def _verify_each_password_once() -> Iterator[None]:
    """These tests sign in many times with one password; argon2 checks it for real once
    per hash, then remembers (the password itself is tested in test_signin.py)."""
    cached = functools.lru_cache(maxsize=64)(service.verify_password)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "verify_password", cached)
        yield


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The authenticator's code for the secret, ``offset_steps`` steps after NOW."""
    return pyotp.TOTP(secret).at(NOW + 30 * offset_steps)


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """The production default: administrators and clerks must use a second factor (and,
    to keep the throttling test short, three failures in a row lock the sign-in)."""
    return settings.model_copy(update={"totp_required": True, "login_max_failures": 3})


@pytest.fixture
def api(strict: Settings) -> Iterator[TestClient]:
    """An API client of an app that requires two-factor sign-in of administrators."""
    app = create_app(strict)
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture
def browser(strict: Settings) -> Iterator[TestClient]:
    """A client asking for pages as a browser does, on the same kind of app."""
    app = create_app(strict)
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as client:
        yield client
    app.state.engine.dispose()


def enrol(session: Session, settings: Settings, user: User) -> tuple[str, list[str]]:
    """Enrol the user through the service (confirmed one step before NOW)."""
    secret = totp.begin_enrolment(session, settings, user=user).secret
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(totp, "_now", lambda: NOW - 30)
        codes = totp.confirm_enrolment(session, settings, user=user, code=code_at(secret, -1),
                                       client_ip="test")
    session.commit()
    return secret, codes


def token(client: TestClient, username: str, code: str | None = None) -> tuple[int, dict[str, str]]:
    data = {"username": username, "password": PASSWORD}
    if code is not None:
        data["totp"] = code
    response = client.post("/api/v1/auth/token", data=data)
    return response.status_code, response.json()


def totp_audit(session: Session) -> list[tuple[str, str, str]]:
    rows = session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith("auth.totp"))
        .order_by(AuditEvent.id).execution_options(populate_existing=True)
    ).all()
    return [(row.action, row.outcome.value, row.detail) for row in rows]


def test_clinician_enrols_by_api_then_needs_a_fresh_code_for_each_token(
    api: TestClient, session: Session
) -> None:
    hospital = make_institution(session)
    user = make_user(session, role=Role.CLINICIAN, institution=hospital, username="wang")
    session.commit()
    headers = bearer(api, "wang")  # optional for a clinician: a password is enough

    started = api.post("/api/v1/auth/totp/enrolment", headers=headers)
    secret = started.json()["secret"]
    assert started.status_code == 201
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    confirmed = api.post("/api/v1/auth/totp/enrolment/confirm", headers=headers,
                         json={"code": code_at(secret, -1)})
    assert confirmed.status_code == 200
    assert len(set(confirmed.json()["recovery_codes"])) == 10

    stored = session.get(UserTotp, user.id)
    assert stored is not None and stored.secret_cipher.startswith("v1.")
    assert secret not in stored.secret_cipher  # encrypted at rest
    status, body = token(api, "wang")
    assert (status, body["code"]) == (401, "totp_required")
    assert "动态验证码" in body["message_zh"] and "authenticator" in body["message_en"]
    assert token(api, "wang", code_at(secret))[0] == 200
    status, body = token(api, "wang", code_at(secret))  # the same code again: a replay
    assert status == 401
    assert body["message_en"].startswith("Wrong or already used code")
    # a code older than the last one used is refused as well
    assert token(api, "wang", code_at(secret, -1))[0] == 401
    assert [(action, outcome) for action, outcome, _ in totp_audit(session)] == [
        ("auth.totp.enrol", "success"), ("auth.totp.enrol", "success"),
        ("auth.totp.verify", "success"), ("auth.totp.verify", "failed"),
        ("auth.totp.verify", "failed"),
    ]
    assert "code already used" in totp_audit(session)[3][2]


def test_wrong_codes_are_throttled_like_wrong_passwords(
    api: TestClient, session: Session, strict: Settings
) -> None:
    user = make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    secret, _ = enrol(session, strict, user)
    wrong = f"{(int(code_at(secret)) + 1) % 1_000_000:06d}"

    statuses = [token(api, "root", wrong)[0] for _ in range(3)]
    status, body = token(api, "root", code_at(secret))  # now even the right code waits

    assert statuses == [401] * 3
    assert (status, body["code"]) == (429, "too_many_attempts")
    outcomes = session.scalars(select(AuditEvent.outcome).where(
        AuditEvent.action.in_(["auth.login", "auth.totp.verify"])).order_by(AuditEvent.id)).all()
    assert outcomes == [AuditOutcome.FAILED] * 3 + [AuditOutcome.DENIED]


def test_a_recovery_code_signs_in_once(
    api: TestClient, session: Session, strict: Settings
) -> None:
    clerk_at = make_institution(session)
    user = make_user(session, role=Role.INSURANCE_CLERK, institution=clerk_at, username="li")
    session.commit()
    _, codes = enrol(session, strict, user)

    assert token(api, "li", codes[0].upper())[0] == 200  # case and dashes do not matter
    assert token(api, "li", codes[0])[0] == 401
    assert token(api, "li", codes[1])[0] == 200
    assert totp.remaining_recovery_codes(session, user_id=user.id) == 8


def test_administrator_without_authenticator_must_enrol_before_anything_else(
    browser: TestClient, session: Session
) -> None:
    hospital = make_institution(session)
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=hospital, username="zhang")
    session.commit()
    assert token(browser, "zhang")[0] == 403  # the API sends them to the browser first

    login = browser.post("/login", follow_redirects=False, data={
        "username": "zhang", "password": PASSWORD, "next": "/patients",
        "csrf_token": csrf_of(browser.get("/login").text)})
    assert (login.status_code, login.headers["location"]) == (303, "/login/enrol")
    home = browser.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/login")

    page = browser.get("/login/enrol")
    assert "<svg" in page.text and "otpauth" not in page.text  # the QR code, inline
    found = SECRET_ON_PAGE.search(page.text)
    assert found is not None
    secret = found.group(1).replace(" ", "")
    mistyped = browser.post("/login/enrol", data={
        "code": "000000" if code_at(secret) != "000000" else "111111",
        "csrf_token": csrf_of(page.text)})
    assert mistyped.status_code == 401
    assert secret in mistyped.text.replace(" ", "")  # the same key, to try again
    done = browser.post("/login/enrol", data={"code": code_at(secret),
                                              "csrf_token": csrf_of(mistyped.text)})
    assert done.status_code == 200
    assert len(re.findall(r"<li><code>[0-9a-f]{8}-[0-9a-f]{8}</code></li>", done.text)) == 10
    assert browser.get("/", follow_redirects=False).status_code == 200

    browser.post("/logout", data={"csrf_token": csrf_of(done.text)})
    again = browser.post("/login", follow_redirects=False, data={
        "username": "zhang", "password": PASSWORD, "next": "/patients",
        "csrf_token": csrf_of(browser.get("/login").text)})
    assert again.headers["location"] == "/login/code"
    form = browser.get("/login/code")
    replay = browser.post("/login/code", data={"code": code_at(secret),
                                               "csrf_token": csrf_of(form.text)})
    assert replay.status_code == 401  # the code that confirmed enrolment is spent
    signed_in = browser.post("/login/code", follow_redirects=False, data={
        "code": code_at(secret, 1), "csrf_token": csrf_of(replay.text)})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/patients")
    login_event = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "auth.login").order_by(AuditEvent.id.desc())).first()
    assert login_event is not None and '"totp"' in login_event.detail


def test_clinician_signs_in_with_a_password_alone_unless_they_turn_it_on(
    browser: TestClient, session: Session
) -> None:
    hospital = make_institution(session)
    make_user(session, role=Role.CLINICIAN, institution=hospital, username="chen")
    session.commit()

    login = browser.post("/login", follow_redirects=False, data={
        "username": "chen", "password": PASSWORD, "next": "/",
        "csrf_token": csrf_of(browser.get("/login").text)})

    assert (login.status_code, login.headers["location"]) == (303, "/")
    account = browser.get("/account/two-factor")
    assert account.status_code == 200
    started = browser.post("/account/two-factor", data={"csrf_token": csrf_of(account.text)})
    assert started.status_code == 200 and SECRET_ON_PAGE.search(started.text)


def test_administrator_resets_a_lost_authenticator(
    api: TestClient, session: Session, strict: Settings
) -> None:
    hospital = make_institution(session)
    admin = make_user(session, role=Role.HOSPITAL_ADMIN, institution=hospital, username="hadm")
    clerk = make_user(session, role=Role.INSURANCE_CLERK, institution=hospital, username="clk")
    session.commit()
    secret, _ = enrol(session, strict, admin)
    enrol(session, strict, clerk)
    _, issued = token(api, "hadm", code_at(secret))

    reset = api.delete(f"/api/v1/users/{clerk.id}/totp",
                       headers={"Authorization": f"Bearer {issued['access_token']}"})

    assert reset.status_code == 204
    status, body = token(api, "clk")
    assert (status, body["code"]) == (403, "totp_enrolment_required")
    assert ("auth.totp.reset", "success", "") in totp_audit(session)
