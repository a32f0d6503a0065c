"""The API reference is for signed-in users only and works offline."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer, make_user
from yilian.auth.models import Role


def test_openapi_document_needs_sign_in(client: TestClient, session: Session) -> None:
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    session.commit()

    assert client.get("/api/openapi.json").status_code == 401
    document = client.get("/api/openapi.json", headers=bearer(client, "analyst")).json()

    assert "/api/v1/registry/institutions" in document["paths"]
    assert document["components"]["securitySchemes"]["OAuth2Password"]["type"] == "oauth2"
    assert document["paths"]["/api/v1/auth/token"]["post"]["security"] == []


def test_docs_page_loads_swagger_from_our_own_static_files(
    client: TestClient, session: Session
) -> None:
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()

    anonymous = client.get("/api/docs", follow_redirects=False)
    page = client.get("/api/docs", headers=bearer(client, "root"))

    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.split("<body>")[1]  # nothing fetched from the internet
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
