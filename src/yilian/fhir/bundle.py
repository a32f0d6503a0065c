"""Validated FHIR output: single resources, searchset Bundles with paging links.

Every resource is checked against the ``fhir.resources`` R4B model of its type before it
leaves the server, so a mapping mistake is a failing test, not a client's parse error.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import Response

from yilian.fhir.search import SearchQuery, SearchResult

FHIR_JSON = "application/fhir+json"


@lru_cache
def model_class(resource_type: str) -> Any:
    """The R4B model of a resource type (``Organization`` → ``fhir.resources.R4B.organization``)."""
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def validated(resource: dict[str, Any]) -> Any:
    """The resource as its R4B model; raises pydantic's ValidationError when it is not valid."""
    return model_class(resource["resourceType"]).model_validate(resource)


def fhir_response(resource: dict[str, Any], status_code: int = 200) -> Response:
    """An ``application/fhir+json`` answer carrying the validated resource."""
    body = validated(resource).model_dump_json()
    return Response(content=body, status_code=status_code, media_type=FHIR_JSON)


def searchset(
    *, base_url: str, resource_type: str, query: SearchQuery, result: SearchResult
) -> dict[str, Any]:
    """A searchset Bundle of one page, with its total and self/next/previous links."""
    type_url = f"{base_url}/{resource_type}"

    def link(relation: str, offset: int) -> dict[str, str]:
        return {"relation": relation,
                "url": f"{type_url}?{urlencode(query.link_params(offset=offset))}"}

    links = [link("self", query.offset)]
    if query.count > 0 and query.offset + query.count < result.total:
        links.append(link("next", query.offset + query.count))
    if query.count > 0 and query.offset > 0:
        links.append(link("previous", max(0, query.offset - query.count)))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": result.total,
        "link": links,
    }
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in result.resources
    ]
    if query.ignored:  # lenient handling: say what was left out
        entries.append({"resource": _ignored_outcome(query.ignored), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _ignored_outcome(parameters: tuple[str, ...]) -> dict[str, Any]:
    names = ", ".join(parameters)
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "warning",
                "code": "not-supported",
                "details": {"text": f"已忽略不支持的查询参数：{names} / "
                                    f"Unsupported search parameters ignored: {names}"},
            }
        ],
    }
