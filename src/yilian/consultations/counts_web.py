"""The consultation counts page (会诊统计) for analysts and coordinators: by kind, by
requesting and consulted institution, by specialty, response times per urgency and the
share referred up, each beside its definition, as tables with a chart of each, filtered
by period, institution and kind, and downloadable as CSV or XLSX. Counts only: no patient
appears. Declared before the consultation pages so ``/counts`` is not read as an id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from yilian.analytics import service as analytics
from yilian.auth.permissions import Action, authorize
from yilian.consultations import counts, labels
from yilian.consultations import router as consultations_api
from yilian.consultations.models import ConsultationKind
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.portal.pages import query_string, render_page
from yilian.webui import current_language

router = APIRouter(prefix="/consultations", include_in_schema=False)


@router.get("/counts", response_class=HTMLResponse)
def counts_page(
    request: Request, session: DbSession, settings: AppSettings, principal: CurrentPrincipal,
    query: Annotated[counts.CountsQuery, Depends(consultations_api.counts_query)],
) -> Response:
    """The counts over the period, with their definitions, tables, charts and downloads."""
    authorize(principal, Action.CONSULTATION_COUNTS)
    report = counts.counts(session, settings, principal, query=query)
    english = current_language.get() == "en"
    values = {"from": report.period_from, "to": report.period_to,
              "institution_id": query.institution_id, "kind": query.kind}
    download = f"/api/v1/consultations/counts.{{fmt}}?{query_string(values)}"
    return render_page(request, session, "consultations/counts.html", {
        "report": report, "query": query, "kinds": list(ConsultationKind),
        "name_of": lambda member: labels.name_of(member, current_language.get()),
        "institutions": analytics.in_scope_institutions(session, principal),
        "definitions": {d.code: d.en if english else d.zh for d in report.definitions},
        "english": english, "csv_url": download.replace("{fmt}", "csv"),
        "xlsx_url": download.replace("{fmt}", "xlsx"),
    })
