"""``/fhir/r4``: the CapabilityStatement (public) and read + search of every handler.

Routes are generated from :data:`HANDLERS`, each behind its handler's permission, so a
new resource type is one handler away. Patient, whose routes need the settings (the field
cipher, the match thresholds) and which also takes create and ``$match``, is routed by hand
below. Errors on these paths are answered as OperationOutcome by the application's error
handlers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response

from yilian.analytics import fhir as analytics_fhir
from yilian.auth.permissions import Action, Principal
from yilian.db import utcnow
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.fhir import audit, patient_match, patient_search, practitioner_search, registry_search
from yilian.fhir.bundle import FHIR_JSON, fhir_response, searchset
from yilian.fhir.capability import (
    ResourceDeclaration,
    ResourceHandler,
    capability_statement,
)
from yilian.fhir.search import MAX_COUNT, SearchParam, SearchQuery, parse_search
from yilian.referrals import fhir as referrals_fhir
from yilian.results import fhir as results_fhir
from yilian.scheduling import fhir as scheduling_fhir
from yilian.settlement import fhir as settlement_fhir

PREFIX = "/fhir/r4"
HANDLERS: tuple[ResourceHandler, ...] = (
    *registry_search.HANDLERS,
    *practitioner_search.HANDLERS,
    *audit.HANDLERS,
    *results_fhir.HANDLERS,
    *referrals_fhir.HANDLERS,
    *scheduling_fhir.HANDLERS,
    *analytics_fhir.HANDLERS,
)
# Every resource type the CapabilityStatement lists: the generated ones and Patient.
DECLARATIONS: tuple[ResourceDeclaration, ...] = (
    *HANDLERS, patient_search.PATIENT, *settlement_fhir.DECLARATIONS,
)
FhirBody = Annotated[dict[str, Any], Body(media_type=FHIR_JSON)]

router = APIRouter(prefix=PREFIX, tags=["fhir"])
_FHIR_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {FHIR_JSON: {}}}}


def base_url(request: Request, settings: AppSettings) -> str:
    """The FHIR base as clients should see it (``fhir_base_url`` when configured)."""
    if settings.fhir_base_url:
        return settings.fhir_base_url.rstrip("/")
    return f"{str(request.base_url).rstrip('/')}{PREFIX}"


def _wants_lenient(request: Request) -> bool:
    prefer = request.headers.get("prefer", "").replace(";", ",")
    return any(part.strip() == "handling=lenient" for part in prefer.split(","))


@router.get("/metadata", summary="CapabilityStatement (no sign-in needed)",
            response_class=Response, responses=_FHIR_ANSWER)
def read_capability_statement(request: Request, settings: AppSettings) -> Response:
    """What this server supports: resources, interactions, search parameters."""
    return fhir_response(
        capability_statement(DECLARATIONS, base_url=base_url(request, settings), now=utcnow())
    )


def _parse(
    request: Request, settings: AppSettings, params: tuple[SearchParam, ...]
) -> SearchQuery:
    return parse_search(
        request.query_params.multi_items(),
        params,
        lenient=_wants_lenient(request),
        max_count=min(MAX_COUNT, settings.page_size_max),
    )


def _add_routes(handler: ResourceHandler) -> None:
    name = handler.resource_type

    def read(
        resource_id: str,
        session: DbSession,
        principal: Principal = RequirePermission(handler.action),
    ) -> Response:
        return fhir_response(handler.read(session, principal, resource_id))

    def search(
        request: Request,
        session: DbSession,
        settings: AppSettings,
        principal: Principal = RequirePermission(handler.action),
    ) -> Response:
        query = _parse(request, settings, handler.search_params)
        result = handler.search(session, principal, query)
        return fhir_response(
            searchset(base_url=base_url(request, settings), resource_type=name, query=query,
                      result=result)
        )

    read.__doc__ = f"Read one {name} by logical id."
    search.__doc__ = f"Search {name} (see /fhir/r4/metadata for the parameters)."
    router.add_api_route(f"/{name}/{{resource_id}}", read, methods=["GET"],
                         name=f"fhir_read_{name}", summary=f"Read {name}",
                         response_class=Response, responses=_FHIR_ANSWER)
    router.add_api_route(f"/{name}", search, methods=["GET"],
                         name=f"fhir_search_{name}", summary=f"Search {name}",
                         response_class=Response, responses=_FHIR_ANSWER)


for _handler in HANDLERS:
    _add_routes(_handler)


# ---------------------------------------------------------------- Patient
# Routed by hand: the routes need the settings, and Patient also takes create and $match.


@router.post("/Patient/$match", summary="Patient $match (EMPI)",
             response_class=Response, responses=_FHIR_ANSWER)
def match_patients(
    request: Request,
    body: FhirBody,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = RequirePermission(Action.PATIENT_READ),
) -> Response:
    """The people a described patient may be, most likely first, graded (FHIR Patient-match)."""
    return fhir_response(patient_match.match_patients(
        session, settings, principal, body, base_url=base_url(request, settings)
    ))


@router.get("/Patient/{resource_id}", name="fhir_read_Patient", summary="Read Patient",
            response_class=Response, responses=_FHIR_ANSWER)
def read_patient(
    resource_id: str,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = RequirePermission(Action.PATIENT_READ),
) -> Response:
    """Read one person of the patient index."""
    return fhir_response(patient_search.read_patient(session, settings, principal, resource_id))


@router.get("/Patient", name="fhir_search_Patient", summary="Search Patient",
            response_class=Response, responses=_FHIR_ANSWER)
def search_patients(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = RequirePermission(Action.PATIENT_READ),
) -> Response:
    """Search Patient (see /fhir/r4/metadata for the parameters)."""
    query = _parse(request, settings, patient_search.PATIENT.search_params)
    result = patient_search.search_patients(session, settings, principal, query)
    return fhir_response(
        searchset(base_url=base_url(request, settings), resource_type="Patient", query=query,
                  result=result)
    )


async def _form_parameters(request: Request) -> list[tuple[str, str]]:
    """Search parameters sent as an application/x-www-form-urlencoded body."""
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


@router.post("/Patient/_search", name="fhir_search_Patient_post",
             summary="Search Patient with the parameters in the body",
             response_class=Response, responses=_FHIR_ANSWER)
def search_patients_by_post(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    form: Annotated[list[tuple[str, str]], Depends(_form_parameters)],
    principal: Principal = RequirePermission(Action.PATIENT_READ),
) -> Response:
    """Search Patient as GET does, but keeps a resident ID or phone out of URLs and logs."""
    query = parse_search(
        [*request.query_params.multi_items(), *form],
        patient_search.PATIENT.search_params,
        lenient=_wants_lenient(request),
        max_count=min(MAX_COUNT, settings.page_size_max),
    )
    result = patient_search.search_patients(session, settings, principal, query)
    return fhir_response(
        searchset(base_url=base_url(request, settings), resource_type="Patient", query=query,
                  result=result)
    )


@router.post("/Patient", name="fhir_create_Patient", summary="Create Patient",
             status_code=201, response_class=Response,
             responses={201: {"content": {FHIR_JSON: {}}}})
def create_patient(
    request: Request,
    body: FhirBody,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = RequirePermission(Action.PATIENT_WRITE),
) -> Response:
    """Register a patient number at an institution; the answer is the person it linked to."""
    created = patient_search.create_patient(session, settings, principal, body)
    response = fhir_response(created.resource, status_code=201)
    response.headers["Location"] = (
        f"{base_url(request, settings)}/Patient/{created.resource['id']}"
    )
    response.headers[patient_search.LINK_OUTCOME_HEADER] = created.outcome.value
    return response


# ---------------------------------------------------------------- results (DiagnosticReport)


@router.post("/DiagnosticReport", name="fhir_create_DiagnosticReport",
             summary="Create DiagnosticReport", status_code=201, response_class=Response,
             responses={201: {"content": {FHIR_JSON: {}}}})
def create_diagnostic_report(
    request: Request,
    body: FhirBody,
    session: DbSession,
    settings: AppSettings,
    principal: Principal = RequirePermission(Action.RESULT_WRITE),
) -> Response:
    """Store a result with its contained Observations and ImagingStudy."""
    report = results_fhir.create_report(session, principal, body)
    response = fhir_response(results_fhir.created_resource(session, report), status_code=201)
    response.headers["Location"] = f"{base_url(request, settings)}/DiagnosticReport/{report.id}"
    return response


@router.post("", name="fhir_transaction", summary="Transaction Bundle (results)",
             response_class=Response, responses=_FHIR_ANSWER)
def post_transaction(
    body: FhirBody,
    session: DbSession,
    principal: Principal = RequirePermission(Action.RESULT_WRITE),
) -> Response:
    """A transaction Bundle of DiagnosticReports and their Observations: all or nothing."""
    return fhir_response(results_fhir.transaction(session, principal, body))
