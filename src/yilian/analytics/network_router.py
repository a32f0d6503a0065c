"""Agreement network REST API: the graph (nodes and edges) and the programme counts per
region, as JSON, CSV or XLSX. Pure reads of the registry; ANALYTICS_READ, narrowed to what
the reader's role and institution allow (see ``network``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from yilian import tables
from yilian.analytics import network, network_export
from yilian.analytics.network_schemas import NetworkGraph, ProgrammeReport
from yilian.auth.permissions import Action, Principal
from yilian.deps import DbSession, RequirePermission
from yilian.registry.models import AgreementStatus, AgreementType
from yilian.schemas import Key

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Reader = Annotated[Principal, RequirePermission(Action.ANALYTICS_READ)]
Format = Annotated[Literal["csv", "xlsx"], Path()]
REGION = Query(pattern=r"^\d{6}$", description="GB/T 2260 region code")


def network_query(
    date_from: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD")
                         ] = None,
    date_to: Annotated[date | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
    region: Annotated[str | None, REGION] = None,
    institution_id: Key | None = None,
    types: Annotated[list[AgreementType] | None, Query(alias="type")] = None,
    specialty: Annotated[str | None, Query(max_length=32)] = None,
    status: AgreementStatus | None = None,
) -> network.NetworkQuery:
    """The query string of the network graph."""
    return network.NetworkQuery(
        date_from=date_from, date_to=date_to, region_code=region or None,
        institution_id=institution_id, types=tuple(types or ()), specialty=specialty or None,
        status=status)


def programme_query(
    date_from: Annotated[date | None, Query(alias="from", description="First day, YYYY-MM-DD")
                         ] = None,
    date_to: Annotated[date | None, Query(alias="to", description="Last day, YYYY-MM-DD")] = None,
    region: Annotated[str | None, REGION] = None,
) -> network.NetworkQuery:
    """The query string of the programme counts."""
    return network.NetworkQuery(date_from=date_from, date_to=date_to, region_code=region or None)


Graph = Annotated[network.NetworkQuery, Depends(network_query)]
Programme = Annotated[network.NetworkQuery, Depends(programme_query)]


@router.get("/network", response_model=NetworkGraph)
def read_network(session: DbSession, principal: Reader, query: Graph) -> NetworkGraph:
    """The agreement network: institutions as nodes, each lead–member pair of an agreement
    in force in the period as an edge with its type, status and dates."""
    return network.network_graph(session, principal, query=query)


@router.get("/network.{fmt}", response_class=Response)
def export_network(session: DbSession, principal: Reader, query: Graph, fmt: Format) -> Response:
    """The edge table as CSV (UTF-8 with BOM) or XLSX."""
    graph = network.network_graph(session, principal, query=query)
    return tables.download(network_export.edges_table(graph), "network", fmt)


@router.get("/programme", response_model=ProgrammeReport)
def read_programme(session: DbSession, principal: Reader, query: Programme) -> ProgrammeReport:
    """Agreements, co-built departments, specialty alliances, new techniques, research
    projects, experts received and trainees sent per city-level region, and in total."""
    return network.programme(session, principal, query=query)


@router.get("/programme.{fmt}", response_class=Response)
def export_programme(session: DbSession, principal: Reader, query: Programme,
                     fmt: Format) -> Response:
    """The programme table as CSV (UTF-8 with BOM) or XLSX."""
    report = network.programme(session, principal, query=query)
    return tables.download(network_export.programme_table(report), "programme", fmt)
