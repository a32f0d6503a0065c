"""The audit trail as FHIR AuditEvent, read through the audit service (scoped by reader).

``AuditEvent/{audit_event.id}``. Mapping:

- ``type``: DICOM 110114 *User Authentication* for ``auth.*`` actions, otherwise HL7
  ``rest``; ``subtype``: Yilian's action code (``institution.update``, ``auth.login`` …).
- ``action``: C/R/U/D from the action's verb, E (execute) for anything else.
- ``outcome``: 0 success, 4 denied by the permission rules, 8 refused as invalid or
  impossible (``yilian.audit.models.AuditOutcome``).
- ``agent``: the user (username identifier, role, network address) as requestor.
- ``entity``: the record touched — a reference to its FHIR resource when it has one
  (:data:`ENTITY_LINKS`), else a ``<table>/<key>`` identifier — then the patient and the
  institution whose data it is.

Later capabilities add their tables with :func:`link_entity`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.auth.permissions import ROLE_NAMES, Action, Principal
from yilian.fhir import systems
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.dates import instant_bounds
from yilian.fhir.registry import DEPARTMENT_PREFIX
from yilian.fhir.search import (
    ID_PARAM,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    dates,
    int_ids,
    reference_ids,
    standard,
    strings,
    tokens,
)

OUTCOME_CODES = {
    AuditOutcome.SUCCESS: "0",
    AuditOutcome.DENIED: "4",
    AuditOutcome.FAILED: "8",
}
_OUTCOMES_BY_CODE = {code: outcome for outcome, code in OUTCOME_CODES.items()}
_ACTION_BY_VERB = {
    "create": "C",
    "read": "R", "view": "R", "search": "R", "list": "R", "export": "R", "download": "R",
    "update": "U",
    "delete": "D",
}


@dataclass(frozen=True)
class EntityLink:
    """How records of a table appear in FHIR: ``<resource_type>/<id_prefix><key>``."""

    table: str
    resource_type: str
    id_prefix: str = ""


ENTITY_LINKS: list[EntityLink] = [
    EntityLink("institution", "Organization"),
    EntityLink("department", "Organization", DEPARTMENT_PREFIX),
    EntityLink("practitioner", "Practitioner"),
    EntityLink("practitioner_role", "PractitionerRole"),
]


def link_entity(link: EntityLink) -> None:
    """Make audited records of ``link.table`` point at their FHIR resource."""
    ENTITY_LINKS[:] = [known for known in ENTITY_LINKS if known.table != link.table] + [link]


def entity_reference(table: str, key: str) -> str | None:
    """``Organization/dept-45`` for (department, 45); None for tables without a resource."""
    for link in ENTITY_LINKS:
        if link.table == table:
            return f"{link.resource_type}/{link.id_prefix}{key}"
    return None


def entity_of_reference(reference: str) -> tuple[str, str] | None:
    """(table, key) of a FHIR reference to an audited record, longest id prefix first."""
    resource_type, _, logical_id = reference.rstrip("/").rpartition("/")
    resource_type = resource_type.rpartition("/")[2]
    for link in sorted(ENTITY_LINKS, key=lambda known: -len(known.id_prefix)):
        if link.resource_type == resource_type and logical_id.startswith(link.id_prefix):
            return link.table, logical_id[len(link.id_prefix):]
    return None


# ---------------------------------------------------------------- mapping


def action_code(action: str) -> str:
    """FHIR AuditEvent.action (C, R, U, D or E) of a Yilian action code."""
    return _ACTION_BY_VERB.get(action.rpartition(".")[2], "E")


def _coding(system: str, code: str, display: str = "") -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _detail(row: AuditEvent) -> dict[str, Any]:
    try:
        found = json.loads(row.detail) if row.detail else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _agent(row: AuditEvent) -> dict[str, Any]:
    agent: dict[str, Any] = {"requestor": True}
    if row.actor_role in set(Role):
        role = Role(row.actor_role)
        agent["type"] = {"coding": [_coding(systems.USER_ROLE, role.value, ROLE_NAMES[role][0])]}
    if row.actor_user_id is not None:
        agent["who"] = {"identifier": {"system": systems.USERNAME, "value": row.actor},
                        "display": row.actor}
    else:
        agent["who"] = {"display": row.actor or "system"}
    if row.client_ip:
        agent["network"] = {"address": row.client_ip, "type": "2"}  # 2 = IP address
    return agent


def _record_entity(row: AuditEvent) -> dict[str, Any]:
    key = f"{row.entity_type}/{row.entity_id}"
    reference = entity_reference(row.entity_type, row.entity_id)
    what: dict[str, Any] = (
        {"reference": reference}
        if reference and row.entity_id
        else {"identifier": {"system": systems.RECORD, "value": key}}
    )
    entity: dict[str, Any] = {
        "what": {**what, "display": key},
        "type": _coding(systems.AUDIT_ENTITY_TYPE, row.entity_type),
    }
    if row.detail:
        entity["detail"] = [{"type": "detail", "valueString": row.detail}]
    return entity


def _entities(row: AuditEvent) -> list[dict[str, Any]]:
    entities = [_record_entity(row)] if row.entity_type else []
    if row.patient_id is not None:
        entities.append({
            "what": {"reference": f"Patient/{row.patient_id}"},
            "type": _coding(systems.HL7_AUDIT_ENTITY_TYPE, "1", "Person"),
            "role": _coding(systems.HL7_OBJECT_ROLE, "1", "Patient"),
        })
    if row.institution_id is not None and not (
        row.entity_type == "institution" and row.entity_id == str(row.institution_id)
    ):
        entities.append({
            "what": {"reference": f"Organization/{row.institution_id}"},
            "type": _coding(systems.HL7_AUDIT_ENTITY_TYPE, "3", "Organization"),
        })
    return entities


def audit_event_to_fhir(row: AuditEvent) -> dict[str, Any]:
    """An audit record as an AuditEvent."""
    if row.action.startswith("auth."):
        event_type = _coding(systems.DICOM, "110114", "User Authentication")
    else:
        event_type = _coding(systems.HL7_AUDIT_EVENT_TYPE, "rest", "RESTful Operation")
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "type": event_type,
        "subtype": [_coding(systems.AUDIT_ACTION, row.action)],
        "action": action_code(row.action),
        "recorded": row.recorded_at.isoformat(),
        "outcome": OUTCOME_CODES[row.outcome],
        "agent": [_agent(row)],
        "source": {
            "site": "yilian",
            "observer": {"display": "Yilian 医联"},
            "type": [_coding(systems.HL7_SECURITY_SOURCE_TYPE, "4", "Application Server")],
        },
    }
    refusal = _detail(row).get("code")
    if row.outcome is not AuditOutcome.SUCCESS and isinstance(refusal, str) and refusal:
        resource["outcomeDesc"] = refusal
    entities = _entities(row)
    if entities:
        resource["entity"] = entities
    return resource


# ---------------------------------------------------------------- read and search


def read_audit_event(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
    """One audit record the principal may read, else 404 (its existence is not revealed)."""
    found = int_ids([resource_id])
    row = audit.get(session, principal=principal, audit_id=found[0]) if found else None
    if row is None:
        raise not_found("AuditEvent", resource_id)
    return audit_event_to_fhir(row)


def _filter_of(query: SearchQuery) -> audit.AuditFilter | None:
    """The audit filter a search asks for; None when no record can match it."""
    since, until = instant_bounds(v for c in query.clauses_for("date") for v in dates(c))
    where = audit.AuditFilter(since=since, until=until)
    for clause in query.clauses:
        if clause.name == "agent":
            token = tokens(clause)[0]
            if not token.names(systems.USERNAME):
                return None
            where = replace(where, actor=token.code)
        elif clause.name in ("entity-type", "entity"):
            if clause.name == "entity":
                target = entity_of_reference(strings(clause)[0])
            else:
                token = tokens(clause)[0]
                target = (token.code, "") if token.names(systems.AUDIT_ENTITY_TYPE) else None
            if target is None or where.entity_type not in (None, target[0]):
                return None
            where = replace(where, entity_type=target[0], entity_id=target[1] or where.entity_id)
        elif clause.name == "outcome":
            outcome = _OUTCOMES_BY_CODE.get(tokens(clause)[0].code)
            if outcome is None:
                return None
            where = replace(where, outcome=outcome)
        elif clause.name == "patient":
            patient_ids = int_ids(reference_ids(clause, "Patient"))
            if not patient_ids:
                return None
            where = replace(where, patient_id=patient_ids[0])
    return where


def _matches(row: AuditEvent, where: audit.AuditFilter) -> bool:
    """Whether a record passes the filter (for ``_id`` searches, read by id first)."""
    return all((
        where.actor is None or row.actor == where.actor,
        where.entity_type is None or row.entity_type == where.entity_type,
        where.entity_id is None or row.entity_id == where.entity_id,
        where.patient_id is None or row.patient_id == where.patient_id,
        where.outcome is None or row.outcome == where.outcome,
        where.since is None or row.recorded_at >= where.since,
        where.until is None or row.recorded_at < where.until,
    ))


def search_audit_events(
    session: Session, principal: Principal, query: SearchQuery
) -> SearchResult:
    """Audit records the principal may read matching every clause, newest first."""
    where = _filter_of(query)
    if where is None:
        return SearchResult([], 0)
    id_clauses = query.clauses_for("_id")
    if not id_clauses:
        rows, total = audit.list_(
            session, principal=principal, where=where, offset=query.offset, limit=query.count
        )
        return SearchResult([audit_event_to_fhir(row) for row in rows], total)
    wanted = set(int_ids(strings(id_clauses[0])))
    for clause in id_clauses[1:]:
        wanted &= set(int_ids(strings(clause)))
    found: Sequence[AuditEvent] = sorted(
        (row for audit_id in wanted
         if (row := audit.get(session, principal=principal, audit_id=audit_id)) is not None
         and _matches(row, where)),
        key=lambda row: -row.id,
    )
    page = found[query.offset:query.offset + query.count]
    return SearchResult([audit_event_to_fhir(row) for row in page], len(found))




def _single(name: str, kind: ParamType, documentation: str, definition: str = "") -> SearchParam:
    """A parameter the audit filter takes once, with one value."""
    return SearchParam(name, kind, documentation, definition, or_values=False, repeatable=False)


AUDIT_EVENT = ResourceHandler(
    resource_type="AuditEvent",
    action=Action.AUDIT_READ,
    documentation=(
        "The append-only audit trail, newest first. Platform administrators read every "
        "event; hospital administrators the events of their institutions and campuses. "
        "Every parameter but _id and date takes a single value."
    ),
    read=read_audit_event,
    search=search_audit_events,
    search_params=(
        ID_PARAM,
        SearchParam("date", ParamType.DATE,
                    "When recorded; repeat for a window, e.g. date=ge2026-01-01&date=le2026-01-31.",
                    standard("AuditEvent", "date"), or_values=False),
        _single("agent", ParamType.TOKEN,
                f"The acting user's username (or {systems.USERNAME}|<username>); Yilian users "
                "are not FHIR resources, so this is a token, not a reference."),
        _single("entity-type", ParamType.TOKEN,
                f"Table of the record touched ({systems.AUDIT_ENTITY_TYPE}), e.g. institution, "
                "department, practitioner."),
        _single("entity", ParamType.REFERENCE,
                "The record touched, e.g. Organization/12 or Organization/dept-45.",
                standard("AuditEvent", "entity")),
        _single("outcome", ParamType.TOKEN, "0 success, 4 denied, 8 refused as invalid.",
                standard("AuditEvent", "outcome")),
        _single("patient", ParamType.REFERENCE, "Patient/<id> whose data was touched.",
                standard("AuditEvent", "patient")),
    ),
)

HANDLERS = (AUDIT_EVENT,)
