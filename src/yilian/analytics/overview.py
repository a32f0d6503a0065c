"""The two dashboards' content: a commission overview of a region (every metric's
headline, the volume ratios of its institutions against their trusteeship baselines, the
outflow trend, the referral flows) and an institution before and after trusteeship.

Both read the aggregates only (``volume_month``, ``outflow_month``, ``metric_month``); the
default period is the last complete calendar year.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from yilian.analytics import metrics, outflow, service
from yilian.analytics.metric_schemas import (
    ClinicReport,
    ConsultationReport,
    OverviewReport,
    RecognitionReport,
    ReferralReport,
    SettlementReport,
    Span,
)
from yilian.analytics.metrics import MetricQuery
from yilian.analytics.schemas import VolumeMonthRead, VolumeReport
from yilian.audit import service as audit
from yilian.auth.permissions import Principal
from yilian.errors import InvalidInput
from yilian.registry import service as registry

MUNICIPALITIES = ("11", "12", "31", "50")  # 北京 天津 上海 重庆: the province is the city


def city_of(region_code: str) -> str:
    """The insurance pooling city of a region code: 130602 竞秀区 → 130600 保定市."""
    if region_code[:2] in MUNICIPALITIES:
        return f"{region_code[:2]}0000"
    return f"{region_code[:4]}00"


def default_region(session: Session, principal: Principal) -> str | None:
    """The region a reader's overview opens on: the analyst's, else their institution's city."""
    watched = service.analyst_region(session, principal)
    if watched is not None:
        return watched
    if principal.institution_id is not None:
        seat = registry.get_institution(session, institution_id=principal.institution_id)
        if seat is not None:
            return city_of(seat.region_code)
    return None


@dataclass(frozen=True)
class OverviewQuery:
    """The overview's filters."""

    region_code: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    institution_id: int | None = None
    specialty: str | None = None
    agreement_id: int | None = None  # narrows the outflow to one agreement's specialty


def region_of(session: Session, principal: Principal, region_code: str | None) -> str:
    """The asked region, else the reader's default one (400 when there is none)."""
    region = region_code or default_region(session, principal)
    if region is None:
        raise InvalidInput("region_required", "请选择地区（如保定市 130600）",
                           "Choose a region (for example Baoding, 130600)")
    return region


def overview(session: Session, principal: Principal, *, query: OverviewQuery) -> OverviewReport:
    """Every metric's headline for a region over a period."""
    region = region_of(session, principal, query.region_code)
    outflow.check_region(session, principal, region)
    first, last = metrics.period_of(query.period_from, query.period_to)
    wanted = MetricQuery(period_from=first, period_to=last, region_code=region,
                         institution_id=query.institution_id, specialty=query.specialty)
    volumes = service.volumes(session, principal, query=service.VolumeQuery(
        period_from=first, period_to=last, region_code=region,
        institution_id=query.institution_id))
    found = registry.get_region(session, code=region)
    report = OverviewReport(
        region_code=region, region_name=found.name if found is not None else region,
        period_from=first, period_to=last, volumes=volumes,
        outflow=outflow.outflow(session, principal, query=outflow.OutflowQuery(
            region_code=region, period_from=first, period_to=last, specialty=query.specialty,
            agreement_id=query.agreement_id)),
        referrals=metrics.referral_report(session, principal, query=wanted),
        green_channel=metrics.green_channel_report(session, principal, query=wanted),
        consultations=metrics.consultation_report(session, principal, query=wanted),
        clinics=metrics.clinic_report(session, principal, query=wanted),
        recognition=metrics.recognition_report(session, principal, query=wanted),
        settlement=metrics.settlement_report(session, principal, query=wanted))
    audit.record(session, action="analytics.overview", entity_type="metric_month",
                 institution_id=principal.institution_id,
                 detail={"region": region, "from": first, "to": last})
    return report


class InstitutionReport(Span):
    """``GET /api/v1/analytics/institutions/{id}``: before and after trusteeship."""

    institution_id: int
    institution_code: str
    institution_name: str
    volumes: VolumeReport  # period against baseline, with the period's months
    baseline_months: list[VolumeMonthRead]  # the baseline year's months, for the series
    referrals: ReferralReport
    consultations: ConsultationReport
    clinics: ClinicReport
    recognition: RecognitionReport
    settlement: SettlementReport


def institution(session: Session, principal: Principal, *, institution_id: int,
                period_from: str | None = None, period_to: str | None = None,
                ) -> InstitutionReport:
    """One institution's volumes before and after its trusteeship, and its other metrics."""
    first, last = metrics.period_of(period_from, period_to)
    scoped = metrics.scope(session, principal, MetricQuery(institution_id=institution_id))
    volumes = service.volumes(session, principal, query=service.VolumeQuery(
        period_from=first, period_to=last, institution_id=institution_id))
    baseline = next((r for r in volumes.rows if r.baseline_from and r.baseline_to), None)
    baseline_months: list[VolumeMonthRead] = []
    if baseline is not None and baseline.baseline_from and baseline.baseline_to:
        baseline_months = service.volumes(session, principal, query=service.VolumeQuery(
            period_from=baseline.baseline_from, period_to=baseline.baseline_to,
            baseline_from=baseline.baseline_from, baseline_to=baseline.baseline_to,
            institution_id=institution_id)).months
    wanted = MetricQuery(period_from=first, period_to=last, institution_id=institution_id)
    return InstitutionReport(
        period_from=first, period_to=last, institution_id=institution_id,
        institution_code=scoped[0].code, institution_name=scoped[0].name, volumes=volumes,
        baseline_months=baseline_months,
        referrals=metrics.referral_report(session, principal, query=wanted),
        consultations=metrics.consultation_report(session, principal, query=wanted),
        clinics=metrics.clinic_report(session, principal, query=wanted),
        recognition=metrics.recognition_report(session, principal, query=wanted),
        settlement=metrics.settlement_report(session, principal, query=wanted))


__all__ = ["InstitutionReport", "OverviewQuery", "city_of", "default_region", "institution",
           "overview", "region_of"]
