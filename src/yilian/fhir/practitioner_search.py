"""Read and search of Practitioner and PractitionerRole, and their handlers.

Like ``registry_search``, queries read the registry tables directly (read-only).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, true
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal
from yilian.fhir import systems
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.dates import local_today, open_period_matches, period_condition
from yilian.fhir.registry import (
    HOME_ROLE_KIND,
    HOME_ROLE_PREFIX,
    home_role_to_fhir,
    practitioner_to_fhir,
    role_to_fhir,
)
from yilian.fhir.search import (
    ID_PARAM,
    BadSearch,
    Clause,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    any_of,
    dates,
    int_ids,
    page_statements,
    prefixed_id,
    reference_ids,
    standard,
    string_condition,
    strings,
    tokens,
)
from yilian.registry.models import (
    Department,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
)

Condition = ColumnElement[bool]


# ---------------------------------------------------------------- practitioners


def _practitioner_condition(clause: Clause) -> Condition:
    if clause.name == "_id":
        return Practitioner.id.in_(int_ids(strings(clause)))
    if clause.name == "name":
        return string_condition([Practitioner.name], clause)
    conditions: list[Condition] = []
    for token in tokens(clause):  # identifier
        for code_system, column in (
            (systems.PRACTITIONER_CODE, Practitioner.code),
            (systems.PRACTITIONER_LICENCE, Practitioner.license_number),
        ):
            if token.names(code_system):
                conditions.append(column == token.code if token.code else column != "")
    return any_of(conditions)


def read_practitioner(session: Session, _principal: Principal, resource_id: str) -> dict[str, Any]:
    """A practitioner."""
    practitioner_id = prefixed_id(resource_id, "")
    practitioner = None if practitioner_id is None else session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise not_found("Practitioner", resource_id)
    return practitioner_to_fhir(practitioner)


def search_practitioners(
    session: Session, _principal: Principal, query: SearchQuery
) -> SearchResult:
    """Practitioners matching every clause, by id."""
    conditions = [_practitioner_condition(clause) for clause in query.clauses]
    statement = select(Practitioner).where(*conditions)
    pages, total = page_statements(
        session, [statement.order_by(Practitioner.id)], offset=query.offset, count=query.count
    )
    return SearchResult([practitioner_to_fhir(row) for row in pages[0]], total)


# ---------------------------------------------------------------- practitioner roles


def _booleans(clause: Clause) -> set[bool]:
    found = set()
    for value in strings(clause):
        if value not in ("true", "false"):
            raise BadSearch("invalid_search_value", f"参数 {clause.name} 须为 true 或 false",
                            f"Parameter {clause.name} must be true or false")
        found.add(value == "true")
    return found


def _role_kinds(clause: Clause) -> list[str]:
    return [
        token.code for token in tokens(clause)
        if token.names(systems.PRACTITIONER_ROLE) and token.code in set(PractitionerRoleKind)
    ]


def _specialties(clause: Clause) -> list[str]:
    return [token.code for token in tokens(clause) if token.names(systems.SPECIALTY)]


def _home_role_condition(clause: Clause) -> Condition:
    """One clause on home posts: one row per practitioner, the STAFF role, never ending."""
    if clause.name == "_id":
        return Practitioner.id.in_(int_ids(strings(clause), HOME_ROLE_PREFIX))
    if clause.name == "practitioner":
        return Practitioner.id.in_(int_ids(reference_ids(clause, "Practitioner")))
    if clause.name == "organization":
        return Practitioner.institution_id.in_(int_ids(reference_ids(clause, "Organization")))
    if clause.name == "role":
        return true() if HOME_ROLE_KIND.value in _role_kinds(clause) else false()
    if clause.name == "specialty":
        return Practitioner.specialty.in_(_specialties(clause))
    if clause.name == "active":
        return true() if True in _booleans(clause) else false()
    if clause.name == "date":
        return true() if any(open_period_matches(value) for value in dates(clause)) else false()
    raise AssertionError(f"unhandled search parameter {clause.name}")


def _role_condition(clause: Clause, today: date) -> Condition:
    """One clause on registry roles (joined to their practitioner and department)."""
    if clause.name == "_id":
        return PractitionerRole.id.in_(int_ids(strings(clause)))
    if clause.name == "practitioner":
        return PractitionerRole.practitioner_id.in_(int_ids(reference_ids(clause, "Practitioner")))
    if clause.name == "organization":
        return PractitionerRole.institution_id.in_(
            int_ids(reference_ids(clause, "Organization"))
        )
    if clause.name == "role":
        return PractitionerRole.role.in_(
            [PractitionerRoleKind(kind) for kind in _role_kinds(clause)]
        )
    if clause.name == "specialty":
        return func.coalesce(Department.specialty, Practitioner.specialty).in_(
            _specialties(clause)
        )
    if clause.name == "active":
        active = (PractitionerRole.start_date <= today) & (
            PractitionerRole.end_date.is_(None) | (PractitionerRole.end_date >= today)
        )
        wanted = _booleans(clause)
        return any_of([active] * (True in wanted) + [~active] * (False in wanted))
    if clause.name == "date":
        return any_of([
            period_condition(PractitionerRole.start_date, PractitionerRole.end_date, value)
            for value in dates(clause)
        ])
    raise AssertionError(f"unhandled search parameter {clause.name}")


def _role_rows(conditions: Sequence[Condition]) -> Select[Any]:
    return (
        select(PractitionerRole)
        .join(Practitioner, PractitionerRole.practitioner_id == Practitioner.id)
        .outerjoin(Department, PractitionerRole.department_id == Department.id)
        .where(*conditions)
        .order_by(PractitionerRole.id)
    )


def read_practitioner_role(
    session: Session, _principal: Principal, resource_id: str
) -> dict[str, Any]:
    """A home post (``home-7``) or a registry role (``77``)."""
    practitioner_id = prefixed_id(resource_id, HOME_ROLE_PREFIX)
    role_id = prefixed_id(resource_id, "")
    if practitioner_id is not None:
        practitioner = session.get(Practitioner, practitioner_id)
        if practitioner is not None:
            return home_role_to_fhir(practitioner)
    elif role_id is not None:
        role = session.get(PractitionerRole, role_id)
        if role is not None:
            return role_to_fhir(role, local_today())
    raise not_found("PractitionerRole", resource_id)


def search_practitioner_roles(
    session: Session, _principal: Principal, query: SearchQuery
) -> SearchResult:
    """Home posts (by practitioner id) then registry roles (by id) matching every clause."""
    today = local_today()
    homes = select(Practitioner).where(*[_home_role_condition(clause) for clause in query.clauses])
    roles = _role_rows([_role_condition(clause, today) for clause in query.clauses])
    pages, total = page_statements(
        session, [homes.order_by(Practitioner.id), roles], offset=query.offset, count=query.count
    )
    resources = [home_role_to_fhir(row) for row in pages[0]]
    resources += [role_to_fhir(row, today) for row in pages[1]]
    return SearchResult(resources, total)


PRACTITIONER = ResourceHandler(
    resource_type="Practitioner",
    action=Action.REGISTRY_READ,
    documentation="Physicians and other health professionals; title 职称 as qualification.",
    read=read_practitioner,
    search=search_practitioners,
    search_params=(
        ID_PARAM,
        SearchParam("name", ParamType.STRING, "Name.", standard("Practitioner", "name")),
        SearchParam("identifier", ParamType.TOKEN,
                    f"Practitioner code ({systems.PRACTITIONER_CODE}) or licence number "
                    f"({systems.PRACTITIONER_LICENCE}).",
                    standard("Practitioner", "identifier")),
    ),
)

PRACTITIONER_ROLE = ResourceHandler(
    resource_type="PractitionerRole",
    action=Action.REGISTRY_READ,
    documentation=(
        "home-<practitioner id>: the home post (role staff, always active, no period); "
        "<id>: a role at an institution for a period (stationed expert, visiting expert …)."
    ),
    read=read_practitioner_role,
    search=search_practitioner_roles,
    search_params=(
        ID_PARAM,
        SearchParam("practitioner", ParamType.REFERENCE, "Practitioner/<id>.",
                    standard("PractitionerRole", "practitioner")),
        SearchParam("organization", ParamType.REFERENCE, "Organization/<institution id>.",
                    standard("PractitionerRole", "organization")),
        SearchParam("role", ParamType.TOKEN, f"Role kind ({systems.PRACTITIONER_ROLE}).",
                    standard("PractitionerRole", "role")),
        SearchParam("specialty", ParamType.TOKEN, f"Specialty ({systems.SPECIALTY}).",
                    standard("PractitionerRole", "specialty")),
        SearchParam("active", ParamType.TOKEN, "true or false (period covers today).",
                    standard("PractitionerRole", "active")),
        SearchParam("date", ParamType.DATE,
                    "Period overlaps (ge/gt/le/lt) or lies within (eq) the date. Home posts "
                    "have no period and match every prefix but eq.",
                    standard("PractitionerRole", "date")),
    ),
)

HANDLERS = (PRACTITIONER, PRACTITIONER_ROLE)
