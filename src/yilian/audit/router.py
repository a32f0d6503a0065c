"""Audit trail routes of the API: list and read. There is deliberately no route that
changes or removes a record: the trail is append-only (the database refuses it too)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from yilian.audit import export
from yilian.audit import service as audit
from yilian.audit.schemas import AuditEventRead, AuditQuery
from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, DbSession, RequirePermission, session_factory
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


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}},
                     "description": "The period's audit records, oldest first"}},
)
def export_audit_events(
    request: Request,
    first_day: Annotated[date, Query(alias="from", description="First day (inclusive)")],
    last_day: Annotated[date, Query(alias="to", description="Last day (inclusive)")],
    principal: Annotated[Principal, RequirePermission(Action.AUDIT_EXPORT)],
    session: DbSession,
    settings: AppSettings,
    format: export.ExportFormat = export.ExportFormat.CSV,
) -> StreamingResponse:
    """Every audit record of a period, streamed as CSV (default) or JSON Lines; platform
    administrators only. Days are calendar days in the platform's time zone (Beijing time
    by default); the export itself is audited as `audit.export`."""
    chosen = export.period(first_day, last_day, timezone=settings.scheduling_timezone)
    fixed, count = export.start(session, chosen, fmt=format)
    name = f"audit-{first_day.isoformat()}-{last_day.isoformat()}.{format.value}"
    return StreamingResponse(
        export.lines(export.rows(session_factory(request), fixed), format),
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "X-Record-Count": str(count)},
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
