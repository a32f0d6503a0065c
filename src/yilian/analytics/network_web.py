"""The agreement network page (协作网络): the graph of institutions and agreements with its
edge table, filters by period, region, institution, type, specialty and status, and the
programme counts per region as a table and a bar chart; CSV/XLSX downloads of both.
Everything comes from ``network``; the charts draw the tables on the page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from yilian.analytics import network
from yilian.auth.permissions import Action, authorize
from yilian.deps import CurrentPrincipal, DbSession
from yilian.errors import InvalidInput
from yilian.portal.pages import query_string, render_page
from yilian.registry import web as registry_web
from yilian.registry.models import AgreementStatus, AgreementType
from yilian.webui import current_language

router = APIRouter(prefix="/analytics", include_in_schema=False)

# The figures the programme bar chart draws (the table shows them all).
CHARTED = ("agreements", "co_built_departments", "specialty_alliances", "new_techniques",
           "research_projects")


T = TypeVar("T")


def _field(raw: str | None, name: str, parse: Callable[[str], T]) -> T | None:
    """A filter of the form: blank is "any"; anything unreadable a bilingual 422."""
    if raw is None or not raw.strip():
        return None
    try:
        return parse(raw.strip())
    except ValueError:
        raise InvalidInput("bad_filter", f"筛选条件有误：{name}={raw}",
                           f"Bad filter value: {name}={raw}") from None


def _region(raw: str) -> str:
    if len(raw) != 6 or not raw.isdigit():
        raise ValueError(raw)
    return raw


def page_query(
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    region: str | None = None, institution_id: str | None = None,
    type_: Annotated[str | None, Query(alias="type")] = None,
    specialty: str | None = None, status: str | None = None,
) -> network.NetworkQuery:
    """The filters as the page's form sends them: every field, the unset ones blank."""
    kind = _field(type_, "type", AgreementType)
    return network.NetworkQuery(
        date_from=_field(date_from, "from", date.fromisoformat),
        date_to=_field(date_to, "to", date.fromisoformat),
        region_code=_field(region, "region", _region),
        institution_id=_field(institution_id, "institution_id", int),
        types=(kind,) if kind is not None else (), specialty=_field(specialty, "specialty", str),
        status=_field(status, "status", AgreementStatus))


@router.get("/network", response_class=HTMLResponse)
def network_page(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    query: Annotated[network.NetworkQuery, Depends(page_query)],
) -> Response:
    """The agreement network and the programme counts per region."""
    authorize(principal, Action.ANALYTICS_READ)
    graph = network.network_graph(session, principal, query=query)
    # The choices offered: everything the reader sees in the period, whatever else is chosen.
    everything = network.network_graph(session, principal, query=network.NetworkQuery(
        date_from=query.date_from, date_to=query.date_to, status=query.status))
    programme = network.programme(session, principal, query=network.NetworkQuery(
        date_from=query.date_from, date_to=query.date_to, region_code=query.region_code))
    english = current_language.get() == "en"
    values = {"from": query.date_from, "to": query.date_to, "region": query.region_code,
              "institution_id": query.institution_id, "type": query.types[0] if query.types
              else None, "specialty": query.specialty, "status": query.status}
    filters = query_string(values)
    programme_filters = query_string({"from": query.date_from, "to": query.date_to,
                                      "region": query.region_code})
    return render_page(request, session, "analytics/network.html", {
        "graph": graph, "programme": programme, "query": query,
        "institutions": everything.nodes,
        "specialties": sorted({e.specialty for e in everything.edges if e.specialty}),
        "types": list(AgreementType), "edge_types": {e.type for e in graph.edges},
        "statuses": list(AgreementStatus),
        "regions": registry_web.region_options(session),
        "definition": graph.definition.en if english else graph.definition.zh,
        "programme_definition": (programme.definition.en if english
                                 else programme.definition.zh),
        "charted": CHARTED,
        "csv_url": f"/api/v1/analytics/network.csv?{filters}",
        "xlsx_url": f"/api/v1/analytics/network.xlsx?{filters}",
        "programme_csv_url": f"/api/v1/analytics/programme.csv?{programme_filters}",
        "programme_xlsx_url": f"/api/v1/analytics/programme.xlsx?{programme_filters}",
    })
