"""Reading outcomes back from the database in registry tests."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yilian.audit.models import AuditEvent
from yilian.registry.models import Agreement, Institution


def count_institutions(session: Session) -> int:
    """Institutions stored now (the test session may hold stale rows: expire first)."""
    session.expire_all()
    return session.scalar(select(func.count(Institution.id))) or 0


def audit_events(session: Session, action: str) -> list[AuditEvent]:
    """Audit records of an action, oldest first."""
    session.expire_all()
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ))


def detail_of(event: AuditEvent) -> dict[str, object]:
    """The audit record's detail as data."""
    found: dict[str, object] = json.loads(event.detail) if event.detail else {}
    return found


def count_agreements(session: Session) -> int:
    """Agreements stored now."""
    session.expire_all()
    return session.scalar(select(func.count(Agreement.id))) or 0
