"""Analytics REST API beyond volumes: outflow, referrals, green channel, consultations,
clinics, recognition, settlement, the region overview and the institution page — each as
JSON and its table as CSV or XLSX (``yilian.tables``). Figures come from the aggregates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from yilian import tables
from yilian.analytics import metric_export, metrics, outflow, overview
from yilian.analytics.metric_schemas import (
    ClinicReport,
    ConsultationReport,
    GreenChannelReport,
    OutflowReport,
    OverviewReport,
    RecognitionReport,
    ReferralReport,
    SettlementReport,
)
from yilian.auth.permissions import Action, Principal
from yilian.deps import DbSession, RequirePermission
from yilian.schemas import Key

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

Reader = Annotated[Principal, RequirePermission(Action.ANALYTICS_READ)]
Format = Annotated[Literal["csv", "xlsx"], Path()]
MONTH = r"^\d{4}-\d{2}$"
Month = Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM")]
RegionCode = Annotated[str | None, Query(pattern=r"^\d{6}$", description="GB/T 2260 code")]
Specialty = Annotated[str | None, Query(max_length=64)]
# A filter form's "all" option sends the parameter empty: an id that may be blank.
OptionalId = Annotated[str | None, Query(pattern=r"^\d{0,9}$", description="an id, or empty")]


def optional_id(value: str | None) -> int | None:
    """An id from a filter form (empty: not given)."""
    return int(value) if value else None


def metric_query(period_from: Annotated[str | None, Query(alias="from", pattern=MONTH)] = None,
                 period_to: Annotated[str | None, Query(alias="to", pattern=MONTH)] = None,
                 region: RegionCode = None, institution_id: OptionalId = None,
                 specialty: Specialty = None) -> metrics.MetricQuery:
    """Filters of every metric: period (default the last complete year), region,
    institution, specialty."""
    return metrics.MetricQuery(period_from=period_from, period_to=period_to,
                               region_code=region, institution_id=optional_id(institution_id),
                               specialty=specialty or None)


def overview_query(period_from: Annotated[str | None, Query(alias="from", pattern=MONTH)] = None,
                   period_to: Annotated[str | None, Query(alias="to", pattern=MONTH)] = None,
                   region: RegionCode = None, institution_id: OptionalId = None,
                   specialty: Specialty = None, agreement_id: OptionalId = None,
                   ) -> overview.OverviewQuery:
    """The overview's filters (the region defaults to the reader's)."""
    return overview.OverviewQuery(region_code=region, period_from=period_from,
                                  period_to=period_to,
                                  institution_id=optional_id(institution_id),
                                  specialty=specialty or None,
                                  agreement_id=optional_id(agreement_id))


def outflow_query(session: DbSession, principal: Reader,
                  period_from: Annotated[str | None, Query(alias="from", pattern=MONTH)] = None,
                  period_to: Annotated[str | None, Query(alias="to", pattern=MONTH)] = None,
                  region: RegionCode = None, baseline_from: Month = None,
                  baseline_to: Month = None, specialty: Specialty = None,
                  agreement_id: OptionalId = None) -> outflow.OutflowQuery:
    """The outflow's filters (the region defaults to the reader's)."""
    return outflow.OutflowQuery(
        region_code=overview.region_of(session, principal, region), period_from=period_from,
        period_to=period_to, baseline_from=baseline_from, baseline_to=baseline_to,
        specialty=specialty or None, agreement_id=optional_id(agreement_id))


Metric = Annotated[metrics.MetricQuery, Depends(metric_query)]
Outflow = Annotated[outflow.OutflowQuery, Depends(outflow_query)]
Overview = Annotated[overview.OverviewQuery, Depends(overview_query)]


@router.get("/overview", response_model=OverviewReport)
def read_overview(session: DbSession, principal: Reader, query: Overview) -> OverviewReport:
    """A region's headline of every metric: volume ratios, outflow, referrals, green
    channel, consultations, clinics, recognition, settlement."""
    return overview.overview(session, principal, query=query)


@router.get("/institutions/{institution_id}", response_model=overview.InstitutionReport)
def read_institution(session: DbSession, principal: Reader, institution_id: Key,
                     period_from: Annotated[str | None, Query(alias="from",
                                                              pattern=MONTH)] = None,
                     period_to: Annotated[str | None, Query(alias="to", pattern=MONTH)] = None,
                     ) -> overview.InstitutionReport:
    """One institution before and after its trusteeship, with its other metrics."""
    return overview.institution(session, principal, institution_id=institution_id,
                                period_from=period_from, period_to=period_to)


@router.get("/institutions/{institution_id}/series.{fmt}", response_class=Response)
def export_institution(session: DbSession, principal: Reader, institution_id: Key, fmt: Format,
                       period_from: Annotated[str | None, Query(alias="from",
                                                                pattern=MONTH)] = None,
                       period_to: Annotated[str | None, Query(alias="to",
                                                              pattern=MONTH)] = None,
                       ) -> Response:
    """The institution's monthly series (baseline year, then the period) as a file."""
    report = overview.institution(session, principal, institution_id=institution_id,
                                  period_from=period_from, period_to=period_to)
    return tables.download(metric_export.institution_series_table(report),
                           f"institution-{institution_id}", fmt)


@router.get("/outflow", response_model=OutflowReport)
def read_outflow(session: DbSession, principal: Reader, query: Outflow) -> OutflowReport:
    """Share of a region's insured admissions treated outside it, against the baseline."""
    return outflow.outflow(session, principal, query=query)


@router.get("/outflow.{fmt}", response_class=Response)
def export_outflow(session: DbSession, principal: Reader, query: Outflow,
                   fmt: Format) -> Response:
    """The outflow's months as a file."""
    report = outflow.outflow(session, principal, query=query)
    return tables.download(metric_export.outflow_table(report), "outflow", fmt)


Reporter = Callable[..., Any]
REPORTS: dict[str, tuple[Reporter, type[Any]]] = {
    "referrals": (metrics.referral_report, ReferralReport),
    "green-channel": (metrics.green_channel_report, GreenChannelReport),
    "consultations": (metrics.consultation_report, ConsultationReport),
    "clinics": (metrics.clinic_report, ClinicReport),
    "recognition": (metrics.recognition_report, RecognitionReport),
    "settlement": (metrics.settlement_report, SettlementReport),
}


def _add_report(name: str, reporter: Reporter, model: type[Any]) -> None:
    def read(session: DbSession, principal: Reader, query: Metric) -> Any:
        return reporter(session, principal, query=query)

    read.__doc__ = reporter.__doc__
    router.add_api_route(f"/{name}", read, methods=["GET"], response_model=model,
                         name=f"read_{name}")


def _report(session: Session, principal: Principal, name: str,
            query: metrics.MetricQuery) -> Any:
    table = "referrals" if name == "referral-flows" else name
    return REPORTS[table][0](session, principal, query=query)


for _name, (_reporter, _model) in REPORTS.items():
    _add_report(_name, _reporter, _model)


@router.get("/{name}.{fmt}", response_class=Response)
def export_metric(session: DbSession, principal: Reader, query: Metric, fmt: Format,
                  name: Annotated[Literal["referrals", "referral-flows", "green-channel",
                                          "consultations", "clinics", "recognition",
                                          "settlement"], Path()]) -> Response:
    """A metric's table (referrals, referral-flows, green-channel, consultations, clinics,
    recognition, settlement) as CSV or XLSX."""
    report = _report(session, principal, name, query)
    return tables.download(metric_export.TABLES[name](report), name, fmt)
