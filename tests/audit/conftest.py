"""Fixtures of the audit tests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.audit.trail import Trail, build_trail


@pytest.fixture
def trail(client: TestClient, session: Session) -> Trail:
    """Three institutions, their administrators and a few audit events."""
    return build_trail(client, session)
