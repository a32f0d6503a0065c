"""FHIR R4 Encounter (outpatient visits, inpatient stays) and Procedure (surgeries): create,
read and search.

Create (``POST /fhir/r4/Encounter`` or ``/Procedure``) validates the resource against R4
(fhir.resources), maps it onto ``intake.record_encounter`` and answers 201 with the stored
resource — or 200 when the sender's identifier was already stored: the same encounter sent
again updates it, never duplicates it.

Mapping:
- ``identifier[0].value``: the sender's visit / operation number (required, the idempotency
  key together with the institution);
- ``subject``: ``Patient/<person id>`` of the patient index;
- Encounter ``class`` (v3 ActCode): AMB and EMER an outpatient visit, IMP / ACUTE / NONAC an
  inpatient stay; ``period`` start (and end, the discharge); ``serviceProvider`` the
  institution (``Organization/<id>``) or its department (``Organization/dept-<id>``);
- Procedure ``performedPeriod``/``performedDateTime``; ``performer[0].actor`` the
  institution or department;
- the department may also come as extension :data:`DEPARTMENT`.
Statuses: Encounter in-progress (also planned/arrived/triaged/onleave), finished, cancelled
(also entered-in-error); Procedure completed, in-progress (also preparation/on-hold),
not-done / entered-in-error (cancelled, counted nowhere).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from yilian.analytics import intake
from yilian.analytics import service as analytics
from yilian.analytics.models import Encounter, EncounterKind, EncounterStatus
from yilian.analytics.schemas import EncounterCreate
from yilian.auth.permissions import Action, Principal
from yilian.deps import DbSession, RequirePermission
from yilian.errors import InvalidInput, NotFound
from yilian.fhir import systems
from yilian.fhir.bundle import FHIR_JSON, fhir_response, validated
from yilian.fhir.capability import ResourceHandler, not_found
from yilian.fhir.dates import instant_bounds
from yilian.fhir.search import (
    ID_PARAM,
    Clause,
    ParamType,
    SearchParam,
    SearchQuery,
    SearchResult,
    dates,
    int_ids,
    page_statements,
    prefixed_id,
    reference_ids,
    standard,
    strings,
    tokens,
)
from yilian.registry import service as registry
from yilian.validation import describe_validation_errors

VISIT_NUMBER = f"{systems.CANONICAL_BASE}/sid/visit-number"
DEPARTMENT = f"{systems.CANONICAL_BASE}/StructureDefinition/department"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SNOMED = "http://snomed.info/sct"
SURGICAL_PROCEDURE = "387713003"  # SNOMED CT: Surgical procedure
DEPT_PREFIX = "dept-"

CLASS_OF = {"AMB": EncounterKind.OUTPATIENT, "EMER": EncounterKind.OUTPATIENT,
            "IMP": EncounterKind.INPATIENT, "ACUTE": EncounterKind.INPATIENT,
            "NONAC": EncounterKind.INPATIENT}
ENCOUNTER_STATUS = {"planned": EncounterStatus.IN_PROGRESS, "arrived": EncounterStatus.IN_PROGRESS,
                    "triaged": EncounterStatus.IN_PROGRESS, "onleave": EncounterStatus.IN_PROGRESS,
                    "in-progress": EncounterStatus.IN_PROGRESS,
                    "finished": EncounterStatus.FINISHED, "cancelled": EncounterStatus.CANCELLED,
                    "entered-in-error": EncounterStatus.CANCELLED}
PROCEDURE_STATUS = {"preparation": EncounterStatus.IN_PROGRESS,
                    "in-progress": EncounterStatus.IN_PROGRESS,
                    "on-hold": EncounterStatus.IN_PROGRESS, "completed": EncounterStatus.FINISHED,
                    "not-done": EncounterStatus.CANCELLED, "stopped": EncounterStatus.FINISHED,
                    "entered-in-error": EncounterStatus.CANCELLED}
PROCEDURE_STATUS_OUT = {EncounterStatus.IN_PROGRESS: "in-progress",
                        EncounterStatus.FINISHED: "completed",
                        EncounterStatus.CANCELLED: "not-done"}

# ---------------------------------------------------------------- resources


def _common(encounter: Encounter) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": str(encounter.id),
        "identifier": [{"system": VISIT_NUMBER, "value": encounter.source_id}],
        "subject": {"reference": f"Patient/{encounter.person_id}"},
    }
    if encounter.department_id is not None:
        resource["extension"] = [{"url": DEPARTMENT, "valueReference": {
            "reference": f"Organization/{DEPT_PREFIX}{encounter.department_id}"}}]
    return resource


def _period(encounter: Encounter) -> dict[str, str]:
    period = {"start": encounter.started_at.isoformat()}
    if encounter.ended_at is not None:
        period["end"] = encounter.ended_at.isoformat()
    return period


def encounter_resource(encounter: Encounter) -> dict[str, Any]:
    """A visit or stay as FHIR Encounter."""
    code = "IMP" if encounter.kind is EncounterKind.INPATIENT else "AMB"
    return {"resourceType": "Encounter", **_common(encounter),
            "status": encounter.status.value,
            "class": {"system": ACT_CODE, "code": code},
            "period": _period(encounter),
            "serviceProvider": {"reference": f"Organization/{encounter.institution_id}"}}


def procedure_resource(encounter: Encounter) -> dict[str, Any]:
    """A surgery as FHIR Procedure."""
    return {"resourceType": "Procedure", **_common(encounter),
            "status": PROCEDURE_STATUS_OUT[encounter.status],
            "category": {"coding": [{"system": SNOMED, "code": SURGICAL_PROCEDURE,
                                     "display": "Surgical procedure"}]},
            "performedPeriod": _period(encounter),
            "performer": [{"actor": {"reference": f"Organization/{encounter.institution_id}"}}]}


def resource_of(encounter: Encounter) -> dict[str, Any]:
    """The stored row as the resource it came as."""
    if encounter.resource_type == "Procedure":
        return procedure_resource(encounter)
    return encounter_resource(encounter)


# ---------------------------------------------------------------- read and search


def _condition(clause: Clause) -> ColumnElement[bool]:
    if clause.name in ("patient", "subject"):
        return Encounter.person_id.in_(int_ids(reference_ids(clause, "Patient")))
    if clause.name in ("service-provider", "performer"):
        return Encounter.institution_id.in_(int_ids(reference_ids(clause, "Organization")))
    if clause.name == "date":
        since, until = instant_bounds(dates(clause))
        return and_(*([Encounter.started_at >= since] if since else []),
                    *([Encounter.started_at < until] if until else []))
    if clause.name == "identifier":
        return Encounter.source_id.in_([t.code for t in tokens(clause)
                                        if t.names(VISIT_NUMBER)])
    if clause.name == "class":
        kinds = {CLASS_OF[t.code] for t in tokens(clause) if t.code in CLASS_OF}
        return Encounter.kind.in_(kinds)
    if clause.name == "_id":
        return Encounter.id.in_(int_ids(strings(clause)))
    raise AssertionError(f"unhandled search parameter {clause.name}")


def _searcher(resource_type: str) -> Any:
    def search(session: Session, principal: Principal, query: SearchQuery) -> SearchResult:
        statement = analytics.encounters_statement(principal, resource_type=resource_type)
        for clause in query.clauses:
            statement = statement.where(_condition(clause))
        pages, total = page_statements(session, [statement], offset=query.offset,
                                       count=query.count)
        found: list[Encounter] = list(pages[0])
        analytics.audit_search(session, principal, found)
        return SearchResult([resource_of(e) for e in found], total)

    return search


def _reader(resource_type: str) -> Any:
    def read(session: Session, principal: Principal, resource_id: str) -> dict[str, Any]:
        key = prefixed_id(resource_id)
        if key is None:
            raise not_found(resource_type, resource_id)
        try:
            encounter = analytics.get_or_raise(session, principal, encounter_id=key,
                                               resource_type=resource_type)
        except NotFound:
            raise not_found(resource_type, resource_id) from None
        return resource_of(encounter)

    return read


_COMMON = (
    ID_PARAM,
    SearchParam("identifier", ParamType.TOKEN, f"The sender's visit number ({VISIT_NUMBER}).",
                standard("Encounter", "identifier")),
    SearchParam("patient", ParamType.REFERENCE, "The patient (Patient/<person id>).",
                standard("Encounter", "patient")),
    SearchParam("date", ParamType.DATE, "When it started (admission, visit, operation).",
                standard("Encounter", "date")),
)
ENCOUNTER = ResourceHandler(
    resource_type="Encounter", action=Action.ENCOUNTER_READ,
    documentation=(
        "Outpatient visits (class AMB / EMER, 门急诊) and inpatient stays (IMP, 住院) that "
        "hospitals send for the network's volume statistics; subject the patient index "
        "person, serviceProvider the institution, the department as extension "
        f"{DEPARTMENT}. create: POST; re-sending the same identifier updates (200). "
        "Visible to whoever may see the patient."),
    search_params=(*_COMMON,
                   SearchParam("service-provider", ParamType.REFERENCE,
                               "The institution (Organization/<id>).",
                               standard("Encounter", "service-provider")),
                   SearchParam("class", ParamType.TOKEN, "AMB | EMER | IMP.",
                               standard("Encounter", "class"))),
    interactions=("read", "search-type", "create"),
    read=_reader("Encounter"), search=_searcher("Encounter"),
)
PROCEDURE = ResourceHandler(
    resource_type="Procedure", action=Action.ENCOUNTER_READ,
    documentation=(
        "Surgeries (手术) for the network's volume statistics: performer the institution, "
        f"performedPeriod the operation, the department as extension {DEPARTMENT}. "
        "create: POST; re-sending the same identifier updates (200)."),
    search_params=(*_COMMON,
                   SearchParam("performer", ParamType.REFERENCE,
                               "The institution (Organization/<id>).",
                               standard("Procedure", "performer"))),
    interactions=("read", "search-type", "create"),
    read=_reader("Procedure"), search=_searcher("Procedure"),
)
HANDLERS = (ENCOUNTER, PROCEDURE)


# ---------------------------------------------------------------- create


def _bad(zh: str, en: str) -> InvalidInput:
    return InvalidInput("invalid_resource", zh, en)


def _valid(body: dict[str, Any], resource_type: str) -> Any:
    if body.get("resourceType") != resource_type:
        raise _bad(f"请提交 {resource_type} 资源", f"Send a {resource_type} resource")
    try:
        return validated(body)
    except ValidationError as invalid:
        zh, en, details = describe_validation_errors(invalid.errors())
        raise InvalidInput("invalid_resource", zh, en, details) from None


def _organization(session: Session, reference: str | None, where: str,
                  ) -> tuple[int, int | None]:
    """(institution id, department id) of ``Organization/<id>`` or ``Organization/dept-<id>``."""
    text = (reference or "").removeprefix("Organization/")
    if reference and reference.startswith("Organization/") and text.startswith(DEPT_PREFIX):
        department_id = prefixed_id(text, DEPT_PREFIX)
        if department_id is not None:
            department = registry.get_department_or_raise(session, department_id=department_id)
            return department.institution_id, department.id
    institution_id = prefixed_id(text) if reference and reference.startswith(
        "Organization/") else None
    if institution_id is None:
        raise _bad(f"{where} 须引用 Organization/<编号>：{reference or '（空）'}",
                   f"{where} must reference Organization/<id>: {reference or '(none)'}")
    return institution_id, None


def _department_extension(session: Session, posted: Any) -> int | None:
    for extension in posted.extension or []:
        if extension.url == DEPARTMENT and extension.valueReference is not None:
            _, department_id = _organization(session, extension.valueReference.reference,
                                             "extension department")
            return department_id
    return None


def _person_id(posted: Any) -> int:
    reference = posted.subject.reference if posted.subject else ""
    person_id = prefixed_id((reference or "").removeprefix("Patient/")) if (
        reference or "").startswith("Patient/") else None
    if person_id is None:
        raise _bad(f"subject 须引用 Patient/<编号>：{reference or '（空）'}",
                   f"subject must reference Patient/<id>: {reference or '(none)'}")
    return person_id


def _source_id(posted: Any) -> str:
    value = next((i.value for i in posted.identifier or [] if i.value), None)
    if not value:
        raise _bad("须有 identifier（本院就诊号），重发时据此更新",
                   "An identifier (the sender's visit number) is required: re-sending it "
                   "updates the same encounter")
    return str(value)


def _status(posted: Any, table: dict[str, EncounterStatus]) -> EncounterStatus:
    if posted.status not in table:
        allowed = ", ".join(table)
        raise _bad(f"status 不支持：{posted.status}（可用 {allowed}）",
                   f"Unsupported status {posted.status} (use {allowed})")
    return table[posted.status]


def _create(data: dict[str, Any]) -> EncounterCreate:
    try:
        return EncounterCreate.model_validate(data)
    except ValidationError as invalid:
        zh, en, details = describe_validation_errors(invalid.errors())
        raise InvalidInput("invalid_resource", zh, en, details) from None


def _times(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    if start is None:
        raise _bad("须有开始时间（period.start / performedPeriod.start / performedDateTime）",
                   "A start time is required (period.start / performedPeriod.start / "
                   "performedDateTime)")
    return {"started_at": start, "ended_at": end}


def encounter_in(session: Session, body: dict[str, Any]) -> EncounterCreate:
    """A posted Encounter in the platform's terms."""
    posted = _valid(body, "Encounter")
    code = posted.class_fhir.code if posted.class_fhir else None
    if code not in CLASS_OF:
        raise _bad(f"class 须为 AMB、EMER 或 IMP：{code}",
                   f"class must be AMB, EMER or IMP: {code}")
    institution_id, department_id = _organization(
        session, posted.serviceProvider.reference if posted.serviceProvider else None,
        "serviceProvider")
    period = posted.period
    return _create({
        "resource_type": "Encounter", "source_id": _source_id(posted), "kind": CLASS_OF[code],
        "status": _status(posted, ENCOUNTER_STATUS), "person_id": _person_id(posted),
        "institution_id": institution_id,
        "department_id": department_id or _department_extension(session, posted),
        **_times(period.start if period else None, period.end if period else None)})


def procedure_in(session: Session, body: dict[str, Any]) -> EncounterCreate:
    """A posted Procedure (a surgery) in the platform's terms."""
    posted = _valid(body, "Procedure")
    actor = next((p.actor.reference for p in posted.performer or [] if p.actor), None)
    institution_id, department_id = _organization(session, actor, "performer.actor")
    period = posted.performedPeriod
    start = period.start if period else posted.performedDateTime
    return _create({
        "resource_type": "Procedure", "source_id": _source_id(posted),
        "kind": EncounterKind.SURGERY, "status": _status(posted, PROCEDURE_STATUS),
        "person_id": _person_id(posted), "institution_id": institution_id,
        "department_id": department_id or _department_extension(session, posted),
        **_times(start if isinstance(start, datetime) else None,
                 period.end if period else None)})


router = APIRouter(prefix="/fhir/r4", tags=["fhir"])
FhirBody = Body(media_type=FHIR_JSON)


def _answer(request: Request, stored: intake.Stored) -> Response:
    encounter = stored.encounter
    response = fhir_response(resource_of(encounter), status_code=201 if stored.created else 200)
    response.headers["Location"] = (
        f"{request.base_url}fhir/r4/{encounter.resource_type}/{encounter.id}")
    return response


@router.post("/Encounter", name="fhir_create_Encounter", status_code=201,
             summary="Create Encounter (a visit or a stay)", response_class=Response)
def post_encounter(
    request: Request, session: DbSession, body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.ENCOUNTER_WRITE),
) -> Response:
    """Store a visit or stay (201), or update the one sent before with that identifier (200)."""
    data = encounter_in(session, body)
    return _answer(request, intake.record_encounter(session, principal, data=data))


@router.post("/Procedure", name="fhir_create_Procedure", status_code=201,
             summary="Create Procedure (a surgery)", response_class=Response)
def post_procedure(
    request: Request, session: DbSession, body: dict[str, Any] = FhirBody,
    principal: Principal = RequirePermission(Action.ENCOUNTER_WRITE),
) -> Response:
    """Store a surgery (201), or update the one sent before with that identifier (200)."""
    data = procedure_in(session, body)
    return _answer(request, intake.record_encounter(session, principal, data=data))
