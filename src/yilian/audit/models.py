"""The audit table. Rows are only ever inserted: the ORM refuses updates and deletes, and
the migration adds database triggers that refuse them too."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class AuditOutcome(enum.StrEnum):
    """How the audited attempt ended (FHIR AuditEvent.outcome: 0, 4, 8)."""

    SUCCESS = "success"
    DENIED = "denied"  # refused by the permission rules
    FAILED = "failed"  # refused as invalid or impossible


class AuditEvent(Base):
    """Who did what, when, to which record (and which patient), from where, and how it ended."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(32), default="")
    actor_institution_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(64), default="")
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    # The institution whose data was touched, so each hospital can read its own trail.
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True)
    patient_id: Mapped[int | None] = mapped_column(Integer, index=True)
    outcome: Mapped[AuditOutcome] = mapped_column(str_enum(AuditOutcome, 16))
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


def _refuse_change(_mapper: Any, _connection: Any, target: AuditEvent) -> None:
    raise RuntimeError(f"audit record {target.id} is append-only and cannot be changed")


event.listen(AuditEvent, "before_update", _refuse_change)
event.listen(AuditEvent, "before_delete", _refuse_change)
