"""Audit trail routes of the API: list and read. There is deliberately no route that
changes or removes a record: the trail is append-only (the database refuses it too)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from yilian.audit import service as audit
from yilian.audit.schemas import AuditEventRead, AuditQuery
from yilian.auth.permissions import Action, Principal
from yilian.deps import DbSession, RequirePermission
from yilian.errors import NotFound
from yilian.schemas import LARGEST_KEY, Page

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

AuditReader = Annotated[Principal, RequirePermission(Action.AUDIT_READ)]


@router.get("", response_model=Page[AuditEventRead])
def list_audit_events(
    query: Annotated[AuditQuery, Query()], principal: AuditReader, session: DbSession
) -> Page[AuditEventRead]:
    """Audit records the caller may read, newest first (hospital administrators: their
    institutions and campuses)."""
    where = audit.AuditFilter(**query.model_dump(exclude={"offset", "limit"}))
    rows, total = audit.list_(
        session, principal=principal, where=where, offset=query.offset, limit=query.limit
    )
    return Page[AuditEventRead](
        items=[AuditEventRead.model_validate(row) for row in rows],
        total=total, offset=query.offset, limit=query.limit,
    )


@router.get("/{audit_id}", response_model=AuditEventRead)
def read_audit_event(
    audit_id: Annotated[int, Path(ge=1, le=LARGEST_KEY)], principal: AuditReader, session: DbSession
) -> AuditEventRead:
    """One audit record; 404 also when it belongs to an institution out of the caller's reach."""
    row = audit.get(session, principal=principal, audit_id=audit_id)
    if row is None:
        raise NotFound("审计记录", "Audit record", audit_id)
    return AuditEventRead.model_validate(row)
