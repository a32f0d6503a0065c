"""Analytics dashboards: the commission overview of a region (/analytics/overview) and an
institution before and after trusteeship (/analytics/institutions/{id}). Every chart
draws the table beside it, which is also what the CSV/XLSX links download; the figures
come from ``overview`` (aggregates only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from yilian.analytics import metric_router, overview, service
from yilian.analytics.models import VolumeKind
from yilian.analytics.web import KIND_LABELS
from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import CurrentPrincipal, DbSession
from yilian.portal.pages import N_, query_string, render_page
from yilian.registry import agreements
from yilian.registry import service as registry
from yilian.webui import current_language

router = APIRouter(prefix="/analytics", include_in_schema=False)

HEADLINE_KINDS = (VolumeKind.OUTPATIENT, VolumeKind.ADMISSION, VolumeKind.SURGERY)
DIRECTION_LABELS = {"up": N_("Referred up"), "down": N_("Referred down"),
                    "lateral": N_("Lateral")}
INTERVAL_LABELS = {"door_to_balloon": N_("Chest pain: door-to-balloon"),
                   "door_to_needle": N_("Stroke: door-to-needle")}
FUND_LABELS = {"medfee_sumamt": N_("Total medical fee"), "hifp_pay": N_("Pooled fund"),
               "hifmi_pay": N_("Critical-illness insurance"), "maf_pay": N_("Medical assistance"),
               "fund_pay_sumamt": N_("All funds"), "acct_pay": N_("Personal account"),
               "psn_cash_pay": N_("Cash paid by the patient")}


def region_choices(session: Session, principal: Principal) -> list[tuple[str, str]]:
    """The cities the reader's institutions lie in, as (code, name)."""
    codes = sorted({overview.city_of(i.region_code)
                    for i in service.in_scope_institutions(session, principal)})
    found = []
    for code in codes:
        region = registry.get_region(session, code=code)
        english = current_language.get() == "en" and region is not None and region.name_en
        found.append((code, (region.name_en if english else region.name) if region else code))
    return found


def agreement_choices(session: Session, region_code: str) -> list[tuple[int, str, str]]:
    """The region's agreements that name a specialty (the outflow can narrow to one), as
    (id, code, title), earliest first."""
    found, _ = agreements.list_agreements(
        session, where=agreements.AgreementFilter(region_code=region_code), limit=500)
    english = current_language.get() == "en"
    return [(a.id, a.code, a.title_en if english and a.title_en else a.title)
            for a in sorted(found, key=lambda a: (a.start_date, a.code)) if a.specialty]


def _definition(definition: Any) -> str:
    return str(definition.en if current_language.get() == "en" else definition.zh)


@router.get("/overview", response_class=HTMLResponse)
def overview_page(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    query: Annotated[overview.OverviewQuery, Depends(metric_router.overview_query)],
) -> Response:
    """A region's commission overview: every metric's headline, charts and tables."""
    authorize(principal, Action.ANALYTICS_READ)
    report = overview.overview(session, principal, query=query)
    values = {"from": report.period_from, "to": report.period_to,
              "region": report.region_code, "institution_id": query.institution_id,
              "specialty": query.specialty, "agreement_id": query.agreement_id}
    filters = query_string(values)
    ratios = {(row.institution_code, row.kind.value): row for row in report.volumes.rows
              if row.kind in HEADLINE_KINDS}
    institutions = sorted({(r.institution_code, r.institution_id, r.institution_name)
                           for r in report.volumes.rows})
    return render_page(request, session, "analytics/overview.html", {
        "report": report, "query": query, "filters": filters, "ratios": ratios,
        "ratio_institutions": institutions, "kinds": KIND_LABELS,
        "headline_kinds": HEADLINE_KINDS, "directions": DIRECTION_LABELS,
        "intervals": INTERVAL_LABELS, "funds": FUND_LABELS, "define": _definition,
        "regions": region_choices(session, principal),
        "agreements": agreement_choices(session, report.region_code),
        "institutions": service.in_scope_institutions(session, principal,
                                                      region_code=report.region_code),
    })


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def institution_page(
    request: Request, session: DbSession, principal: CurrentPrincipal, institution_id: int,
    period_from: Annotated[str | None, Query(alias="from",
                                             pattern=metric_router.MONTH)] = None,
    period_to: Annotated[str | None, Query(alias="to", pattern=metric_router.MONTH)] = None,
) -> Response:
    """One institution before and after its trusteeship."""
    authorize(principal, Action.ANALYTICS_READ)
    report = overview.institution(session, principal, institution_id=institution_id,
                                  period_from=period_from, period_to=period_to)
    series: dict[str, dict[str, int]] = {}
    for month in [*report.baseline_months, *report.volumes.months]:
        series.setdefault(month.month, {})[month.kind.value] = month.total
    return render_page(request, session, "analytics/institution.html", {
        "report": report, "kinds": KIND_LABELS, "series": sorted(series.items()),
        "directions": DIRECTION_LABELS, "define": _definition,
        "filters": query_string({"from": report.period_from, "to": report.period_to}),
    })
