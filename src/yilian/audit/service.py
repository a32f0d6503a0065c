"""Writing and reading the audit trail.

Writes are audited automatically: a session carrying an :class:`AuditContext` appends one
audit record per inserted, updated or deleted row in the same transaction as the change,
so a change and its audit record land together or not at all. A unit of work's records are
gathered and written in one statement just before it commits (or before it reads the trail
itself); a rolled back savepoint takes its own records with it. Refusals (403, 422, …) are
recorded by :func:`record_detached` in a transaction of their own, because the request's
own transaction is rolled back. Reads of patient data call :func:`record` explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, event, func, insert, inspect, or_, select
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
    sessionmaker,
)

from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.permissions import Principal
from yilian.db import utcnow

_CONTEXT_KEY = "audit_context"
_PENDING_KEY = "audit_pending"  # records of this transaction not yet written
_MARKS_KEY = "audit_savepoints"  # savepoint -> how many records were pending when it began
# Tables whose rows are not themselves audited (the trail itself, throttling bookkeeping).
_NOT_AUDITED = frozenset({
    "audit_event", "login_attempt", "web_session", "alembic_version",
    "totp_recovery_code",  # audited explicitly: created as a set, used as auth.totp.recovery
    "idempotent_request",  # a kept answer: the change it reports is audited, a replay too
})


@dataclass(frozen=True)
class AuditContext:
    """Who is acting and from where, for every audit record a unit of work writes."""

    actor: str = "system"
    actor_user_id: int | None = None
    actor_role: str = ""
    actor_institution_id: int | None = None
    client_ip: str = ""
    user_agent: str = ""
    request_id: str = ""

    def for_principal(self, principal: Principal) -> AuditContext:
        """The same request, now known to be this signed-in user."""
        return self.for_user(
            user_id=principal.user_id,
            username=principal.username,
            role=principal.role.value,
            institution_id=principal.institution_id,
        )

    def for_user(
        self, *, user_id: int, username: str, role: str, institution_id: int | None
    ) -> AuditContext:
        """The same request, now known to be this user (for example, just signed in)."""
        return replace(
            self,
            actor=username,
            actor_user_id=user_id,
            actor_role=role,
            actor_institution_id=institution_id,
        )


def bind(session: Session, context: AuditContext) -> None:
    """Make every write through this session audited as done by ``context``."""
    session.info[_CONTEXT_KEY] = context


def context_of(session: Session) -> AuditContext:
    """The audit context bound to the session (``system`` when none)."""
    found = session.info.get(_CONTEXT_KEY)
    return found if isinstance(found, AuditContext) else AuditContext()


def _text(value: str, length: int) -> str:
    """Text as the trail keeps it: at most ``length`` characters, a NUL (which PostgreSQL
    cannot store, and a refused message may carry in its control id) shown as U+FFFD."""
    return value.replace("\x00", "\ufffd")[:length]


def _event(
    context: AuditContext,
    *,
    action: str,
    outcome: AuditOutcome,
    entity_type: str = "",
    entity_id: str = "",
    institution_id: int | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "recorded_at": utcnow(),
        "actor": context.actor,
        "actor_user_id": context.actor_user_id,
        "actor_role": context.actor_role,
        "actor_institution_id": context.actor_institution_id,
        "client_ip": _text(context.client_ip, 64),
        "user_agent": _text(context.user_agent, 256),
        "request_id": _text(context.request_id, 64),
        "action": _text(action, 64),
        "entity_type": _text(entity_type, 64),
        "entity_id": _text(entity_id, 64),
        "institution_id": institution_id,
        "patient_id": patient_id,
        "outcome": outcome,
        "detail": json.dumps(detail, ensure_ascii=False, default=str) if detail else "",
    }


def record(
    session: Session,
    *,
    action: str,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    entity_type: str = "",
    entity_id: str = "",
    institution_id: int | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit record in the session's own transaction (reads, logins, exports)."""
    _pending(session).append(
        _event(
            context_of(session),
            action=action,
            outcome=outcome,
            entity_type=entity_type,
            entity_id=entity_id,
            institution_id=institution_id,
            patient_id=patient_id,
            detail=detail,
        )
    )


def _pending(session: Session) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = session.info.setdefault(_PENDING_KEY, [])
    return found


def write_pending(session: Session) -> None:
    """Write the transaction's gathered audit records now, in one statement."""
    rows = session.info.get(_PENDING_KEY)
    if rows:
        session.info[_PENDING_KEY] = []
        session.connection().execute(insert(AuditEvent), rows)
        for marks in session.info.get(_MARKS_KEY, {}).values():
            marks.clear()  # written: no savepoint rollback can take them back out of the list


def record_detached(
    factory: sessionmaker[Session],
    context: AuditContext,
    *,
    action: str,
    outcome: AuditOutcome,
    entity_type: str = "",
    entity_id: str = "",
    institution_id: int | None = None,
    patient_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append an audit record in a transaction of its own (for refused requests)."""
    with factory() as session:
        session.execute(
            insert(AuditEvent).values(
                **_event(
                    context,
                    action=action,
                    outcome=outcome,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    institution_id=institution_id,
                    patient_id=patient_id,
                    detail=detail,
                )
            )
        )
        session.commit()


def _owning_institution(obj: Any) -> int | None:
    if inspect(obj).mapper.local_table.name == "institution":
        return int(obj.id) if obj.id is not None else None
    value = getattr(obj, "institution_id", None)
    return value if isinstance(value, int) else None


def _identity(obj: Any) -> str:
    # A row inserted by this flush has its key on the object but no identity yet.
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return "/".join(str(part) for part in key)


def _changed_fields(obj: Any) -> list[str]:
    state = inspect(obj)
    ignored: frozenset[str] = getattr(obj, "__audit_ignore__", frozenset())
    return sorted(
        attr.key
        for attr in state.mapper.column_attrs
        if attr.key not in ignored and state.attrs[attr.key].history.has_changes()
    )


@event.listens_for(Session, "after_flush")
def _audit_writes(session: Session, _flush_context: UOWTransaction) -> None:
    """Append one audit record per row this flush inserted, updated or deleted."""
    context = context_of(session)
    rows: list[dict[str, Any]] = []
    for operation, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            table = inspect(obj).mapper.local_table.name
            if table in _NOT_AUDITED:
                continue
            detail: dict[str, Any] | None = None
            if operation == "update":
                fields = _changed_fields(obj)
                if not fields:
                    continue
                detail = {"fields": fields}
            rows.append(
                _event(
                    context,
                    action=f"{table}.{operation}",
                    outcome=AuditOutcome.SUCCESS,
                    entity_type=table,
                    entity_id=_identity(obj),
                    institution_id=_owning_institution(obj),
                    detail=detail,
                )
            )
    if rows:
        _pending(session).extend(rows)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    if session.in_transaction():
        session.flush()  # the last changes' records join the batch
        write_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_reading_trail(state: ORMExecuteState) -> None:
    if state.session.info.get(_PENDING_KEY) and any(
        mapper.class_ is AuditEvent for mapper in state.all_mappers
    ):
        write_pending(state.session)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks: dict[SessionTransaction, list[int]] = session.info.setdefault(_MARKS_KEY, {})
        marks[transaction] = [len(session.info.get(_PENDING_KEY, ()))]


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_MARKS_KEY, None)
        return
    mark = session.info.get(_MARKS_KEY, {}).pop(previous_transaction, None)
    pending = session.info.get(_PENDING_KEY)
    if pending is not None:
        del pending[mark[0] if mark else 0:]


@event.listens_for(Session, "after_transaction_end")
def _drop_savepoint_mark(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.get(_MARKS_KEY, {}).pop(transaction, None)
    elif transaction.parent is None:  # committed (all written) or rolled back (all void)
        session.info.pop(_PENDING_KEY, None)
        session.info.pop(_MARKS_KEY, None)


@dataclass(frozen=True)
class AuditFilter:
    """Ways to narrow the audit trail."""

    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    patient_id: int | None = None
    institution_id: int | None = None
    outcome: AuditOutcome | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(
    statement: Select[Any], principal: Principal, where: AuditFilter
) -> Select[Any]:
    if not principal.is_network_wide:
        reach = list(principal.institution_ids)
        statement = statement.where(
            or_(
                AuditEvent.institution_id.in_(reach),
                AuditEvent.actor_institution_id.in_(reach),
            )
        )
    if where.actor:
        statement = statement.where(AuditEvent.actor == where.actor)
    if where.action:
        statement = statement.where(AuditEvent.action.startswith(where.action))
    if where.entity_type:
        statement = statement.where(AuditEvent.entity_type == where.entity_type)
    if where.entity_id:
        statement = statement.where(AuditEvent.entity_id == where.entity_id)
    if where.patient_id is not None:
        statement = statement.where(AuditEvent.patient_id == where.patient_id)
    if where.institution_id is not None:
        statement = statement.where(AuditEvent.institution_id == where.institution_id)
    if where.outcome is not None:
        statement = statement.where(AuditEvent.outcome == where.outcome)
    if where.since is not None:
        statement = statement.where(AuditEvent.recorded_at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditEvent.recorded_at < where.until)
    return statement


def list_(
    session: Session,
    *,
    principal: Principal,
    where: AuditFilter,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[AuditEvent], int]:
    """Audit records the principal may read, newest first, with the total count."""
    total = session.scalar(_filtered(select(func.count(AuditEvent.id)), principal, where)) or 0
    rows = session.scalars(
        _filtered(select(AuditEvent), principal, where)
        .order_by(AuditEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, total


def get(session: Session, *, principal: Principal, audit_id: int) -> AuditEvent | None:
    """One audit record, if the principal may read it."""
    statement = _filtered(select(AuditEvent), principal, AuditFilter()).where(
        AuditEvent.id == audit_id
    )
    return session.scalars(statement).first()
