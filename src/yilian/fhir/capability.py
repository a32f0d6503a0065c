"""What the facade serves: one :class:`ResourceHandler` per resource type, and the
CapabilityStatement generated from those same declarations.

To add a resource type, write its read and search functions in the capability's mapping
module, declare a handler there, and list it in ``router.HANDLERS``: the routes, the
permission check and the CapabilityStatement entry follow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yilian import __version__
from yilian.auth.permissions import Action, Principal
from yilian.errors import NotFound
from yilian.fhir import systems
from yilian.fhir.search import SEARCH_RULES, ParamType, SearchParam, SearchQuery, SearchResult

FHIR_VERSION = "4.0.1"

Reader = Callable[[Session, Principal, str], dict[str, Any]]
Searcher = Callable[[Session, Principal, SearchQuery], SearchResult]


@dataclass(frozen=True)
class Operation:
    """An operation on a resource type (``Patient/$match``), as the statement lists it."""

    name: str  # without the "$"
    definition: str  # canonical URL of its OperationDefinition
    documentation: str


@dataclass(frozen=True, kw_only=True)
class ResourceDeclaration:
    """What the CapabilityStatement says about a resource type: its interactions, search
    parameters and operations, and the permission reading it needs.

    A type whose routes need more than :class:`ResourceHandler` gives (Patient: the field
    cipher, create, ``$match``) is declared with this and routed by hand in ``router``.
    """

    resource_type: str
    action: Action
    documentation: str
    search_params: tuple[SearchParam, ...]
    interactions: tuple[str, ...] = ("read", "search-type")
    operations: tuple[Operation, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ResourceHandler(ResourceDeclaration):
    """A resource type the facade serves: read by id and search, behind one permission.

    ``read`` raises :class:`yilian.errors.NotFound` for an unknown id (or one the
    principal may not see); ``search`` returns one page and the total.
    """

    read: Reader
    search: Searcher


def not_found(resource_type: str, resource_id: str) -> NotFound:
    """The 404 of a read: unknown id, or one the reader may not know exists."""
    return NotFound("资源", "Resource", f"{resource_type}/{resource_id}")


_PAGING_PARAMS = (
    SearchParam("_count", ParamType.NUMBER,
                "Page size: default 50, at most 200 (larger values are cut to 200); 0 returns "
                "only the total."),
    SearchParam("_offset", ParamType.NUMBER,
                "Number of matches to skip; the Bundle's next and previous links carry it."),
)


def _param_entry(param: SearchParam) -> dict[str, str]:
    entry = {"name": param.name, "type": param.type.value, "documentation": param.documentation}
    if param.definition:
        entry["definition"] = param.definition
    return entry


def _resource_entry(handler: ResourceDeclaration) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": handler.resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{handler.resource_type}",
        "documentation": handler.documentation,
        "interaction": [{"code": code} for code in handler.interactions],
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "searchParam": [_param_entry(param) for param in handler.search_params],
    }
    if handler.operations:
        entry["operation"] = [
            {"name": op.name, "definition": op.definition, "documentation": op.documentation}
            for op in handler.operations
        ]
    return entry


def capability_statement(
    handlers: Sequence[ResourceDeclaration], *, base_url: str, now: datetime
) -> dict[str, Any]:
    """The CapabilityStatement of this running server (``GET /fhir/r4/metadata``)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.isoformat(timespec="seconds"),
        "publisher": "Yilian 医联",
        "name": "YilianFhirFacade",
        "title": "医联 FHIR R4 接口 / Yilian FHIR R4 facade",
        "description": (
            "FHIR R4 view of the Yilian regional medical-collaboration platform: the registry "
            "(institutions, departments, sites, practitioners and their roles) and the audit "
            "trail, read-only; and the patient index (EMPI), where Patient is one person "
            "across the network: read, search, create (register a local patient number) and "
            "$match."
        ),
        "kind": "instance",
        "software": {"name": "Yilian", "version": __version__},
        "implementation": {"description": "Yilian 医联 FHIR R4 facade", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "documentation": SEARCH_RULES,
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {"system": systems.HL7_RESTFUL_SECURITY_SERVICE, "code": "OAuth"}
                            ]
                        }
                    ],
                    "description": (
                        "Every interaction except this CapabilityStatement needs a bearer "
                        "token from POST /api/v1/auth/token (OAuth2 password flow). "
                        "Permissions follow the user's role: AuditEvent is for platform "
                        "administrators (all) and hospital administrators (their institutions); "
                        "staff see the patients their institutions registered or were shared, "
                        "platform administrators every patient."
                    ),
                },
                "resource": [_resource_entry(handler) for handler in handlers],
                "searchParam": [_param_entry(param) for param in _PAGING_PARAMS],
            }
        ],
    }
