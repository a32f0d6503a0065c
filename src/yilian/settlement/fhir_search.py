"""FHIR search of Coverage, Claim and ClaimResponse (``/fhir/r4``, the rules of
:mod:`yilian.fhir.search`).

Coverage is a person's insurance (id = patient id), so its search needs the person:
``patient`` or ``beneficiary``. Claim and ClaimResponse are the stored settlements (one Claim
with ``use = claim`` and its ClaimResponse per settlement; estimates are never stored), seen
as the settlement's own rules allow: the treating institution's staff, platform
administrators, the patient themself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.errors import InvalidInput, NotFound
from yilian.fhir.dates import instant_bounds
from yilian.fhir.search import (
    ID_PARAM,
    MAX_COUNT,
    BadSearch,
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
from yilian.settlement import coverage
from yilian.settlement import service as settlements
from yilian.settlement.models import Settlement, SettlementStatus

# FHIR's financial resource status of a stored settlement.
FHIR_STATUS = {SettlementStatus.SETTLED: "active", SettlementStatus.REVERSED: "cancelled"}
_BY_FHIR_STATUS = {code: status for status, code in FHIR_STATUS.items()}


def _patient_param(resource_type: str, name: str = "patient") -> SearchParam:
    return SearchParam(name, ParamType.REFERENCE, "Patient/<id>: the insured person.",
                       standard(resource_type, name))


COVERAGE_PARAMS = (_patient_param("Coverage"), _patient_param("Coverage", "beneficiary"))


def _settlement_params(resource_type: str) -> tuple[SearchParam, ...]:
    return (
        ID_PARAM,
        _patient_param(resource_type),
        SearchParam("created", ParamType.DATE, "When the bill was settled, e.g. "
                    "created=ge2026-05-01&created=lt2026-06-01.",
                    standard(resource_type, "created"), or_values=False),
        SearchParam("use", ParamType.TOKEN, "claim (stored settlements); predetermination "
                    "estimates are never stored, so they match nothing.",
                    standard(resource_type, "use")),
        SearchParam("status", ParamType.TOKEN, "active (settled) | cancelled (reversed, 冲正).",
                    standard(resource_type, "status")),
    )


CLAIM_PARAMS = _settlement_params("Claim")
CLAIM_RESPONSE_PARAMS = _settlement_params("ClaimResponse")


def _people(query: SearchQuery, *names: str) -> set[int] | None:
    """The person ids every patient/beneficiary clause allows (None: no such clause)."""
    found: set[int] | None = None
    for name in names:
        for clause in query.clauses_for(name):
            ids = set(int_ids(reference_ids(clause, "Patient")))
            found = ids if found is None else found & ids
    return found


def search_coverage(
    session: Session, principal: Principal, query: SearchQuery,
    to_fhir: Callable[[coverage.Insurance], dict[str, Any]],
) -> SearchResult:
    """The insurance of the named people the principal may see (each read audited)."""
    people = _people(query, "patient", "beneficiary")
    if people is None:
        raise BadSearch("coverage_search_needs_patient",
                        "查询 Coverage 须给出 patient 或 beneficiary 参数",
                        "A Coverage search needs the patient or beneficiary parameter")
    if len(people) > MAX_COUNT:
        raise BadSearch("too_many_patients", f"一次最多查询 {MAX_COUNT} 名患者",
                        f"At most {MAX_COUNT} patients per search")
    resources = []
    for person_id in sorted(people):
        try:
            settlements.check_person(session, principal, person_id)
            insurance = coverage.insurance_of(session, person_id=person_id)
        except (NotFound, InvalidInput):  # unknown, not visible, or no insurance on record
            continue
        resources.append(to_fhir(insurance))
    page = resources[query.offset:query.offset + query.count]
    return SearchResult(page, len(resources))


def _settlements(principal: Principal, query: SearchQuery) -> Select[Settlement]:
    """The visible settlements matching the query, oldest first."""
    statement = select(Settlement).order_by(Settlement.id)
    if principal.role is Role.PATIENT:
        statement = statement.where(Settlement.person_id == (principal.person_id or -1))
    elif principal.role is not Role.PLATFORM_ADMIN:
        statement = statement.where(Settlement.institution_id.in_(principal.institution_ids))
    for clause in query.clauses_for("_id"):
        statement = statement.where(Settlement.id.in_(int_ids(strings(clause))))
    if (people := _people(query, "patient")) is not None:
        statement = statement.where(Settlement.person_id.in_(people))
    for clause in query.clauses_for("use"):
        if "claim" not in {token.code for token in tokens(clause)}:
            statement = statement.where(false())
    for clause in query.clauses_for("status"):
        wanted = [_BY_FHIR_STATUS[token.code] for token in tokens(clause)
                  if token.code in _BY_FHIR_STATUS]
        condition: ColumnElement[bool] = (Settlement.status.in_(wanted) if wanted else false())
        statement = statement.where(condition)
    for clause in query.clauses_for("created"):
        since, until = instant_bounds(dates(clause))
        if since is not None:
            statement = statement.where(Settlement.settled_at >= since)
        if until is not None:
            statement = statement.where(Settlement.settled_at < until)
    return statement


def search_settlements(
    session: Session, principal: Principal, query: SearchQuery,
    to_fhir: Callable[[Settlement], dict[str, Any]],
) -> SearchResult:
    """One page of visible settlements as Claims or ClaimResponses; audited."""
    statement = _settlements(principal, query)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.offset(query.offset).limit(query.count)))
    audit.record(session, action="settlement.search", entity_type="settlement",
                 institution_id=principal.institution_id,
                 detail={"ids": [row.id for row in rows]})
    return SearchResult([to_fhir(row) for row in rows], int(total))

