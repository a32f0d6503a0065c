"""API shapes of the audit trail (read-only: there is no shape for changing a record)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from yilian.audit.models import AuditOutcome
from yilian.schemas import LARGEST_KEY, ReadModel


class AuditEventRead(ReadModel):
    """One audit record: who did what to which record, from where, and how it ended."""

    id: int
    recorded_at: datetime
    actor: str
    actor_user_id: int | None
    actor_role: str
    actor_institution_id: int | None
    action: str
    entity_type: str
    entity_id: str
    institution_id: int | None
    patient_id: int | None
    outcome: AuditOutcome
    client_ip: str
    user_agent: str
    request_id: str
    detail: dict[str, Any] | None = Field(
        description="What changed (fields of an update) or why a request was refused."
    )

    @field_validator("detail", mode="before")
    @classmethod
    def _parse_detail(cls, value: object) -> object:
        if isinstance(value, str):
            if not value:
                return None
            try:
                parsed = json.loads(value)
            except ValueError:
                return {"text": value}
            return parsed if isinstance(parsed, dict) else {"value": parsed}
        return value


class AuditQuery(BaseModel):
    """Filters of the audit list; every one narrows the result."""

    actor: str | None = Field(default=None, max_length=64, description="Username, exactly")
    action: str | None = Field(
        default=None, max_length=64,
        description="Action code or its start: `institution.` finds every institution change",
    )
    entity_type: str | None = Field(
        default=None, max_length=64, description="Table of the record, e.g. department"
    )
    entity_id: str | None = Field(default=None, max_length=64)
    patient_id: int | None = Field(default=None, ge=1, le=LARGEST_KEY)
    institution_id: int | None = Field(
        default=None, ge=1, le=LARGEST_KEY, description="Institution whose data it is"
    )
    outcome: AuditOutcome | None = None
    since: AwareDatetime | None = Field(default=None, description="From (inclusive), with zone")
    until: AwareDatetime | None = Field(default=None, description="Until (exclusive), with zone")
    offset: int = Field(default=0, ge=0, le=LARGEST_KEY)
    limit: int = Field(default=50, ge=1, le=200)
