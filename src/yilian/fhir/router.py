"""``/fhir/r4``: the CapabilityStatement (public) and read + search of every handler.

Routes are generated from :data:`HANDLERS`, each behind its handler's permission, so a
new resource type is one handler away. Errors on these paths are answered as
OperationOutcome by the application's error handlers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yilian.auth.permissions import Principal
from yilian.db import utcnow
from yilian.deps import AppSettings, DbSession, RequirePermission
from yilian.fhir import audit, practitioner_search, registry_search
from yilian.fhir.bundle import FHIR_JSON, fhir_response, searchset
from yilian.fhir.capability import ResourceHandler, capability_statement
from yilian.fhir.search import MAX_COUNT, parse_search

PREFIX = "/fhir/r4"
HANDLERS: tuple[ResourceHandler, ...] = (
    *registry_search.HANDLERS,
    *practitioner_search.HANDLERS,
    *audit.HANDLERS,
)

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
        capability_statement(HANDLERS, base_url=base_url(request, settings), now=utcnow())
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
        query = parse_search(
            request.query_params.multi_items(),
            handler.search_params,
            lenient=_wants_lenient(request),
            max_count=min(MAX_COUNT, settings.page_size_max),
        )
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
