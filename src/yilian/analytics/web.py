"""Analytics pages: the volume table (服务量) with its definition beside it, filters by period,
kind, region and institution, and a CSV download of the same table. The figures come
from the monthly aggregate through ``service.volumes``; no page reads raw encounters.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from yilian.analytics import router as analytics_api
from yilian.analytics import service as analytics
from yilian.analytics.models import VolumeKind
from yilian.auth.permissions import Action, authorize
from yilian.deps import CurrentPrincipal, DbSession
from yilian.portal.pages import N_, query_string, render_page
from yilian.webui import current_language

router = APIRouter(prefix="/analytics", include_in_schema=False)

KIND_LABELS = {
    VolumeKind.OUTPATIENT: N_("Outpatient visits"),
    VolumeKind.ADMISSION: N_("Admissions"),
    VolumeKind.DISCHARGE: N_("Discharges"),
    VolumeKind.SURGERY: N_("Surgeries"),
}


@router.get("/volumes", response_class=HTMLResponse)
def volumes_page(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    query: Annotated[analytics.VolumeQuery, Depends(analytics_api.volume_query)],
) -> Response:
    """Volumes per institution (or department) against the pre-agreement baseline."""
    authorize(principal, Action.ANALYTICS_READ)
    report = analytics.volumes(session, principal, query=query)
    institutions = analytics.in_scope_institutions(session, principal)
    english = current_language.get() == "en"
    values = {"from": report.rows[0].period_from if report.rows else query.period_from,
              "to": report.rows[0].period_to if report.rows else query.period_to,
              "kind": query.kind.value if query.kind else None,
              "institution_id": query.institution_id, "region": query.region_code,
              "by": "department" if query.by_department else None,
              "baseline_from": query.baseline_from, "baseline_to": query.baseline_to,
              "agreement_id": query.agreement_id}
    return render_page(request, session, "analytics/volumes.html", {
        "report": report, "kinds": KIND_LABELS, "institutions": institutions,
        "query": query, "definition": report.definition.en if english else report.definition.zh,
        "csv_url": f"/api/v1/analytics/volumes.csv?{query_string(values)}",
    })
