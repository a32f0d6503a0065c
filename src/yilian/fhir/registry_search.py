"""Read and search of Organization and Location, and their handlers.

Queries read the registry tables directly (read-only) because FHIR search semantics —
prefix strings, tokens with systems, OR lists, two tables behind one resource type —
have no equivalent in the registry's list filters. Writes never happen here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, select, true
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal
from yilian.fhir import systems
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.registry import (
    DEPARTMENT_PREFIX,
    Place,
    city_name,
    department_to_organization,
    institution_to_location,
    institution_to_organization,
    place_of,
)
from yilian.fhir.search import (
    ID_PARAM,
    Clause,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    any_of,
    int_ids,
    page_statements,
    prefixed_id,
    reference_ids,
    standard,
    string_condition,
    string_matches,
    strings,
    tokens,
)
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Institution,
    InstitutionGrade,
    InstitutionKind,
    Region,
    RegionLevel,
)

Condition = ColumnElement[bool]


# ---------------------------------------------------------------- places


def _places(session: Session, codes: Iterable[str]) -> dict[str, Place]:
    """Address parts of each region code, loading the regions and their ancestors."""
    regions: dict[str, Region] = {}
    for code in set(codes):
        current: str | None = code
        while current is not None and current not in regions:
            region = registry.get_region(session, code=current)
            if region is None:
                break
            regions[current] = region
            current = region.parent_code
    return {code: place_of(code, regions) for code in set(codes)}


def _region_prefixes(session: Session, clause: Clause) -> list[str]:
    """Region-code prefixes an address clause names (a GB/T 2260 code, or a region name)."""
    regions = {region.code: region for region in registry.list_regions(session)}
    levels = {
        "address-state": {RegionLevel.PROVINCE},
        "address-city": {RegionLevel.CITY},
        "address": set(RegionLevel),
    }[clause.name]
    prefixes = []
    for value in strings(clause):
        if value.isdigit() and len(value) == 6:
            prefixes.append(registry.region_prefix(value))
            continue
        for region in regions.values():
            if region.level not in levels:
                continue
            name = city_name(region, regions) if region.level is RegionLevel.CITY else region.name
            if any(string_matches(text, value, clause.modifier)
                   for text in (name, region.name_en) if text):
                prefixes.append(registry.region_prefix(region.code))
    return prefixes


def _address_condition(session: Session, clause: Clause) -> Condition:
    conditions = [
        Institution.region_code.startswith(prefix) for prefix in _region_prefixes(session, clause)
    ]
    if clause.name == "address":
        conditions.append(string_condition([Institution.address], clause))
    return any_of(conditions)


# ---------------------------------------------------------------- institutions


def _institution_type(code_system: str | None, code: str) -> Condition:
    conditions: list[Condition] = []
    if code_system in (None, systems.HL7_ORGANIZATION_TYPE) and code == "prov":
        conditions.append(true())
    if code_system in (None, systems.INSTITUTION_KIND) and code in set(InstitutionKind):
        conditions.append(Institution.kind == InstitutionKind(code))
    if code_system in (None, systems.INSTITUTION_LEVEL) and code in ("1", "2", "3"):
        conditions.append(Institution.level == int(code))
    if code_system in (None, systems.INSTITUTION_GRADE) and code in set(InstitutionGrade):
        conditions.append(Institution.grade == InstitutionGrade(code))
    return any_of(conditions)


def _institution_condition(session: Session, clause: Clause) -> Condition:
    """One clause of an Organization or Location search, on the institution table."""
    if clause.name == "_id":
        return Institution.id.in_(int_ids(strings(clause)))
    if clause.name == "name":
        return string_condition([Institution.name, Institution.name_en], clause)
    if clause.name == "identifier":
        return any_of([
            Institution.code == token.code if token.code else true()
            for token in tokens(clause) if token.names(systems.INSTITUTION_CODE)
        ])
    if clause.name == "type":
        return any_of([_institution_type(token.system, token.code) for token in tokens(clause)])
    if clause.name == "partof":
        return Institution.parent_id.in_(int_ids(reference_ids(clause, "Organization")))
    if clause.name == "organization":  # Location: the managing Organization is the institution
        return Institution.id.in_(int_ids(reference_ids(clause, "Organization")))
    if clause.name in ("address", "address-state", "address-city"):
        return _address_condition(session, clause)
    raise AssertionError(f"unhandled search parameter {clause.name}")


def _department_condition(clause: Clause) -> Condition:
    """One clause of an Organization search, on the department table."""
    if clause.name == "_id":
        return Department.id.in_(int_ids(strings(clause), DEPARTMENT_PREFIX))
    if clause.name == "name":
        return string_condition([Department.name, Department.name_en], clause)
    if clause.name == "identifier":
        conditions: list[Condition] = []
        for token in tokens(clause):
            if not token.names(systems.DEPARTMENT_CODE):
                continue
            institution_code, _, department_code = token.code.partition("/")
            conditions.append(
                and_(
                    Department.code == department_code,
                    Department.institution_id.in_(
                        select(Institution.id).where(Institution.code == institution_code)
                    ),
                )
                if token.code
                else true()
            )
        return any_of(conditions)
    if clause.name == "type":
        return any_of([
            true() if token.code == "dept" else Department.specialty == token.code
            for token in tokens(clause)
            if (token.code == "dept" and token.names(systems.HL7_ORGANIZATION_TYPE))
            or (token.code != "dept" and token.names(systems.SPECIALTY))
        ])
    if clause.name == "partof":
        return Department.institution_id.in_(int_ids(reference_ids(clause, "Organization")))
    return false()  # departments carry no address of their own


def _organizations(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    places = _places(session, [row.region_code for row in rows if isinstance(row, Institution)])
    return [
        institution_to_organization(row, places[row.region_code])
        if isinstance(row, Institution)
        else department_to_organization(row)
        for row in rows
    ]


def read_organization(session: Session, _principal: Principal, resource_id: str) -> dict[str, Any]:
    """An institution (``123``) or a department (``dept-45``) as an Organization."""
    institution_id = prefixed_id(resource_id, "")
    department_id = prefixed_id(resource_id, DEPARTMENT_PREFIX)
    if institution_id is not None:
        institution = registry.get_institution(session, institution_id=institution_id)
        if institution is not None:
            return _organizations(session, [institution])[0]
    elif department_id is not None:
        department = session.get(Department, department_id)
        if department is not None:
            return department_to_organization(department)
    raise not_found("Organization", resource_id)


def search_organizations(
    session: Session, _principal: Principal, query: SearchQuery
) -> SearchResult:
    """Institutions (by id) then departments (by id) matching every clause."""
    institutions = select(Institution).where(
        *[_institution_condition(session, clause) for clause in query.clauses]
    )
    departments = select(Department).where(
        *[_department_condition(clause) for clause in query.clauses]
    )
    pages, total = page_statements(
        session,
        [institutions.order_by(Institution.id), departments.order_by(Department.id)],
        offset=query.offset, count=query.count,
    )
    return SearchResult(_organizations(session, [row for page in pages for row in page]), total)


def read_location(session: Session, _principal: Principal, resource_id: str) -> dict[str, Any]:
    """An institution's site."""
    institution_id = prefixed_id(resource_id, "")
    institution = (
        None if institution_id is None
        else registry.get_institution(session, institution_id=institution_id)
    )
    if institution is None:
        raise not_found("Location", resource_id)
    places = _places(session, [institution.region_code])
    return institution_to_location(institution, places[institution.region_code])


def search_locations(session: Session, _principal: Principal, query: SearchQuery) -> SearchResult:
    """Institution sites matching every clause."""
    statement = select(Institution).where(
        *[_institution_condition(session, clause) for clause in query.clauses]
    )
    pages, total = page_statements(
        session, [statement.order_by(Institution.id)], offset=query.offset, count=query.count
    )
    places = _places(session, [row.region_code for row in pages[0]])
    return SearchResult(
        [institution_to_location(row, places[row.region_code]) for row in pages[0]], total
    )


# ---------------------------------------------------------------- handlers

_REGION_NOTE = "a GB/T 2260 code (130000 = all of Hebei) or a region name"

ORGANIZATION = ResourceHandler(
    resource_type="Organization",
    action=Action.REGISTRY_READ,
    documentation=(
        "Institutions (id = institution id) and their departments (id = dept-<id>, type "
        "dept, partOf the institution). A campus is partOf the institution running it."
    ),
    read=read_organization,
    search=search_organizations,
    search_params=(
        ID_PARAM,
        SearchParam("name", ParamType.STRING, "Chinese or English name.",
                    standard("Organization", "name")),
        SearchParam("identifier", ParamType.TOKEN,
                    f"Institution code ({systems.INSTITUTION_CODE}) or department code "
                    f"<institution>/<department> ({systems.DEPARTMENT_CODE}).",
                    standard("Organization", "identifier")),
        SearchParam("type", ParamType.TOKEN,
                    "prov or dept (organization-type), institution kind, level 1-3, grade "
                    "甲/乙/丙/未定, or a department specialty.",
                    standard("Organization", "type")),
        SearchParam("partof", ParamType.REFERENCE,
                    "Organization/<id>: the campuses and the departments of an institution.",
                    standard("Organization", "partof")),
        SearchParam("address", ParamType.STRING,
                    f"Street address, or {_REGION_NOTE} at any level. Institutions only.",
                    standard("Organization", "address")),
        SearchParam("address-state", ParamType.STRING,
                    f"Province: {_REGION_NOTE}. Institutions only.",
                    standard("Organization", "address-state")),
        SearchParam("address-city", ParamType.STRING,
                    f"City: {_REGION_NOTE} (a municipality counts as a city). Institutions "
                    "only.",
                    standard("Organization", "address-city")),
    ),
)

LOCATION = ResourceHandler(
    resource_type="Location",
    action=Action.REGISTRY_READ,
    documentation="One site per institution; Location/<id> has the institution's id.",
    read=read_location,
    search=search_locations,
    search_params=(
        ID_PARAM,
        SearchParam("name", ParamType.STRING, "Chinese or English name.",
                    standard("Location", "name")),
        SearchParam("identifier", ParamType.TOKEN,
                    f"Institution code ({systems.INSTITUTION_CODE}).",
                    standard("Location", "identifier")),
        SearchParam("organization", ParamType.REFERENCE, "Organization/<institution id>.",
                    standard("Location", "organization")),
        SearchParam("address", ParamType.STRING, f"Street address, or {_REGION_NOTE}.",
                    standard("Location", "address")),
        SearchParam("address-state", ParamType.STRING, f"Province: {_REGION_NOTE}.",
                    standard("Location", "address-state")),
        SearchParam("address-city", ParamType.STRING, f"City: {_REGION_NOTE}.",
                    standard("Location", "address-city")),
    ),
)

HANDLERS = (ORGANIZATION, LOCATION)
