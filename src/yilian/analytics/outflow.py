"""The out-of-region outflow metric 异地就医外流, read from ``outflow_month`` only.

For an insured region (a city such as 130600 保定): of the admissions of patients insured
there, the share treated at institutions outside it, month by month and for a period
against a baseline, with the change since. Asked for an agreement, the metric narrows to
the agreement's specialty and takes the 12 months before its start as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from yilian.analytics import service
from yilian.analytics.metric_schemas import OutflowMonthRow, OutflowReport, OutflowSummary
from yilian.analytics.metrics import percent, period_of
from yilian.analytics.models import OutflowMonth
from yilian.analytics.schemas import Definition
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.errors import InvalidInput, PermissionDenied
from yilian.registry import agreements
from yilian.registry import service as registry
from yilian.registry.agreements import AgreementFilter
from yilian.registry.models import Agreement, AgreementType, Department, Institution

OUTFLOW = Definition(
    code="outflow",
    zh=("异地就医外流：参保地在该地区（如保定市 130600）的患者的入院人次（按入院月份），其中在"
        "该地区以外机构住院的人次及占比。统计期与基线期比较：外流人次月均值的变化率、外流占比"
        "的变化（百分点）。按协议查询时默认只计协议专科（科室专科），基线期为协议开始前 12 个月；"
        "否则基线期为该地区最早托管协议开始前 12 个月。参保地未登记的不计。"),
    en=("Out-of-region outflow: admissions (by month of admission) of patients insured in "
        "the region (e.g. Baoding 130600), and of them those treated at institutions outside "
        "it, as a count and a share. Period against baseline: the change of the monthly mean "
        "treated outside, and of the share (points). Asked for an agreement, only its "
        "specialty (the department's specialty) counts by default and the baseline is the "
        "12 months before its start; otherwise the 12 months before the region's earliest "
        "trusteeship agreement. Admissions without an insured region are not counted."),
)


@dataclass(frozen=True)
class OutflowQuery:
    """What the outflow metric is asked for."""

    region_code: str  # the insured region, GB/T 2260 (a city: 130600)
    period_from: str | None = None  # default: the last complete calendar year
    period_to: str | None = None
    baseline_from: str | None = None
    baseline_to: str | None = None
    specialty: str | None = None  # default: the agreement's specialty, else all
    agreement_id: int | None = None


def _next_prefix(prefix: str) -> str:
    """The first code after every code starting with ``prefix`` ("1306" -> "1307")."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def check_region(session: Session, principal: Principal, region_code: str) -> None:
    """Analysts read the regions inside the one they watch; hospital staff the region
    their institution lies in (figures of a region carry no patient)."""
    authorize(principal, Action.ANALYTICS_READ)
    if len(region_code) != 6 or not region_code.isdigit():
        raise InvalidInput("invalid_region", f"地区编码须为 6 位数字：{region_code}",
                           f"A region code has six digits: {region_code}")
    prefix = registry.region_prefix(region_code)
    watched = service.analyst_region(session, principal)
    if watched is not None and not region_code.startswith(registry.region_prefix(watched)):
        raise PermissionDenied("无权查看该地区的统计", "You may not see that region's figures",
                               action=Action.ANALYTICS_READ.value)
    if scope_of(principal, Action.ANALYTICS_READ) is Scope.OWN:
        own = [registry.get_institution(session, institution_id=i)
               for i in principal.institution_ids]
        if not any(i is not None and i.region_code.startswith(prefix) for i in own):
            raise PermissionDenied("无权查看该地区的统计",
                                   "You may not see that region's figures",
                                   action=Action.ANALYTICS_READ.value)


def earliest_trusteeship(session: Session, region_code: str) -> Agreement | None:
    """The first trusteeship with a party in the region (it fixes the default baseline)."""
    found, _ = agreements.list_agreements(session, where=AgreementFilter(
        type=AgreementType.TRUSTEESHIP, region_code=region_code), limit=500)
    return min(found, key=lambda a: (a.start_date, a.id)) if found else None


def _baseline(session: Session, query: OutflowQuery, first: str,
              ) -> tuple[str, str, str, Agreement | None]:
    for value, name in ((query.baseline_from, "baseline_from"),
                        (query.baseline_to, "baseline_to")):
        service._check_month(value, name)
    agreement = (agreements.get_agreement_or_raise(session, agreement_id=query.agreement_id)
                 if query.agreement_id is not None else None)
    if query.baseline_from and query.baseline_to:
        if service.month_count(query.baseline_from, query.baseline_to) < 1:
            raise InvalidInput("period_reversed", "起始月份不能晚于结束月份",
                               "The first month cannot come after the last")
        return query.baseline_from, query.baseline_to, "explicit", agreement
    if query.baseline_from or query.baseline_to:
        raise InvalidInput("baseline_incomplete", "基线期须同时给出起止月份",
                           "Give both baseline_from and baseline_to, or neither")
    fixing = agreement or earliest_trusteeship(session, query.region_code)
    if fixing is not None:
        start, end = service.baseline_months(fixing.start_date)
        return start, end, fixing.code, agreement
    return service.add_months(first, -12), service.add_months(first, -1), "previous_year", None


def monthly_outflow(session: Session, *, region_code: str, first: str, last: str,
                    specialty: str | None) -> dict[str, tuple[int, int]]:
    """Per month: (admissions insured in the region, of them treated outside it).

    The sums come straight off the covering index, a row a month: whether the treating
    institution lies inside the region is a test of its id against the region's
    institutions, read once from the registry (a few thousand at most), not a join and a
    pattern match per row.
    """
    prefix = registry.region_prefix(region_code)
    inside = list(session.scalars(select(Institution.id).where(
        Institution.region_code.startswith(prefix))))
    treated_outside = (case((OutflowMonth.institution_id.in_(inside), 0),
                            else_=OutflowMonth.admissions) if inside
                       else OutflowMonth.admissions)
    statement = (select(OutflowMonth.month, func.sum(OutflowMonth.admissions),
                        func.sum(treated_outside))
                 # A range, not LIKE: PostgreSQL's default collation cannot read a
                 # LIKE prefix off the key's index, a range it can (codes are digits).
                 .where(OutflowMonth.insured_region_code >= prefix,
                        OutflowMonth.insured_region_code < _next_prefix(prefix),
                        OutflowMonth.month >= first, OutflowMonth.month <= last)
                 .group_by(OutflowMonth.month).order_by(OutflowMonth.month))
    if specialty:
        statement = statement.join(Department, and_(
            Department.id == OutflowMonth.department_key, Department.specialty == specialty))
    return {m: (int(a or 0), int(o or 0)) for m, a, o in session.execute(statement)}


def summary(series: dict[str, tuple[int, int]], first: str, last: str) -> OutflowSummary:
    """A period's totals out of the monthly series."""
    months = service.month_count(first, last)
    inside = [v for m, v in series.items() if first <= m <= last]
    admissions, outside = sum(v[0] for v in inside), sum(v[1] for v in inside)
    return OutflowSummary(
        period_from=first, period_to=last, months=months, admissions=admissions,
        outside=outside,
        outside_per_month=(Decimal(outside) / months).quantize(Decimal("0.1"), ROUND_HALF_UP),
        outside_percent=percent(outside, admissions))


def change_percent(period: OutflowSummary, baseline: OutflowSummary) -> Decimal | None:
    """How much the monthly mean treated outside changed, as a percentage of the baseline's
    (exact means, rounded once): 2.5 a month before, 1 a month after is −60.0 %."""
    if baseline.outside <= 0:
        return None
    before = Decimal(baseline.outside) / baseline.months
    after = Decimal(period.outside) / period.months
    return ((after - before) * 100 / before).quantize(Decimal("0.1"), ROUND_HALF_UP)


def outflow(session: Session, principal: Principal, *, query: OutflowQuery) -> OutflowReport:
    """The region's outflow: monthly series from the baseline to the period's end, the two
    periods' totals and the change between them."""
    check_region(session, principal, query.region_code)
    first, last = period_of(query.period_from, query.period_to)
    base_first, base_last, source, agreement = _baseline(session, query, first)
    specialty = query.specialty or (agreement.specialty if agreement is not None else None)
    start, end = min(first, base_first), max(last, base_last)
    series = monthly_outflow(session, region_code=query.region_code, first=start, last=end,
                             specialty=specialty or None)
    period, baseline = summary(series, first, last), summary(series, base_first, base_last)
    change = change_percent(period, baseline)
    share_change = (period.outside_percent - baseline.outside_percent
                    if period.outside_percent is not None
                    and baseline.outside_percent is not None else None)
    months = []
    month = start
    while month <= end:
        admissions, outside = series.get(month, (0, 0))
        months.append(OutflowMonthRow(month=month, admissions=admissions, outside=outside,
                                      outside_percent=percent(outside, admissions)))
        month = service.add_months(month, 1)
    return OutflowReport(
        definition=OUTFLOW, region_code=query.region_code, specialty=specialty or None,
        agreement_code=agreement.code if agreement is not None else None,
        baseline_source=source, period=period, baseline=baseline,
        outside_change_percent=change,
        outside_per_month_change=period.outside_per_month - baseline.outside_per_month,
        share_change_points=share_change, months=months)


__all__ = ["OUTFLOW", "OutflowQuery", "check_region", "earliest_trusteeship",
           "monthly_outflow", "outflow", "summary"]
