"""Signing in and out through the pages: the form, its CSRF token, redirects."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import PASSWORD
from tests.web.conftest import Network, csrf_of, sign_in


def test_a_page_without_sign_in_redirects_to_the_login_form(client: TestClient) -> None:
    response = client.get("/registry/institutions", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fregistry%2Finstitutions"


def test_login_form_signs_in_and_goes_where_the_user_was_going(
    client: TestClient, network: Network
) -> None:
    form = client.get("/login?next=/registry/agreements")
    assert form.status_code == 200
    assert 'name="next" value="/registry/agreements"' in form.text

    response = client.post(
        "/login",
        data={"username": "doctor", "password": PASSWORD, "next": "/registry/agreements",
              "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/registry/agreements"
    assert client.get("/registry/agreements").status_code == 200


def test_wrong_password_shows_the_form_again_with_the_error(
    client: TestClient, network: Network
) -> None:
    form = client.get("/login")

    response = client.post(
        "/login",
        data={"username": "doctor", "password": "wrong-pass1", "csrf_token": csrf_of(form.text)},
    )

    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert 'value="doctor"' in response.text  # the username is kept


def test_login_without_csrf_token_is_refused(client: TestClient, network: Network) -> None:
    client.get("/login")

    response = client.post("/login", data={"username": "doctor", "password": PASSWORD})

    assert response.status_code == 403
    assert "表单已失效" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303  # still signed out


def test_an_offsite_next_is_ignored(client: TestClient, network: Network) -> None:
    form = client.get("/login")
    response = client.post(
        "/login",
        data={"username": "doctor", "password": PASSWORD, "next": "//evil.example/",
              "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_logout_ends_the_session(client: TestClient, network: Network) -> None:
    sign_in(client, "doctor")
    home = client.get("/")
    assert 'action="/logout"' in home.text

    response = client.post("/logout", data={"csrf_token": csrf_of(home.text)},
                           follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_cookie_copied_before_sign_out_signs_nobody_in_afterwards(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "doctor")
    stolen = client.cookies.get("yilian_session")
    assert stolen
    assert client.get("/registry/institutions", follow_redirects=False).status_code == 200

    client.post("/logout", data={"csrf_token": csrf_of(client.get("/").text)})
    client.cookies.set("yilian_session", stolen)  # an attacker replays the old cookie

    replay = client.get("/registry/institutions", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")


def test_signing_in_starts_a_fresh_session(client: TestClient, network: Network) -> None:
    token_before = csrf_of(client.get("/login").text)  # what a planted session would know

    sign_in(client, "doctor")

    assert csrf_of(client.get("/").text) != token_before
