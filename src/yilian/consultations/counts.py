"""Counts of consultations for analytics: by kind, by requesting and consulted
institution, by specialty asked for; how fast requests are answered per urgency (median,
and the share answered within the deadline); and of the reported ones, how many ended in
a referral up and how many stayed local. Each figure carries its definition.

Counts only: no patient appears. A commission analyst sees the consultations touching
their region's institutions, hospital staff those of their institution (either side),
the platform administrator all. The period is months of the request, Beijing time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yilian.analytics import service as analytics
from yilian.analytics.schemas import Definition
from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.consultations import labels
from yilian.consultations.models import Consultation, ConsultationKind, ConsultationStatus
from yilian.consultations.schemas import ConsultationCounts, CountRow, ResponseRow
from yilian.consultations.service import response_window
from yilian.db import utcnow
from yilian.errors import InvalidInput, PermissionDenied
from yilian.referrals.models import Urgency
from yilian.registry import service as registry
from yilian.tables import Column, Table

BEIJING = ZoneInfo("Asia/Shanghai")
REPORTED = (ConsultationStatus.REPORTED, ConsultationStatus.CLOSED)
DEFAULT_MONTHS = 12

DEFINITIONS = {d.code: d for d in (
    Definition(code="total", zh="会诊数：统计期内（按申请月份，北京时间）提出的会诊申请，"
               "含已拒绝、已撤销和尚未受理的；一方为所选机构即计入。",
               en="Consultations: requests made in the period (month of the request, Beijing "
               "time), declined, withdrawn and unanswered ones included; counted when either "
               "side is the chosen institution."),
    Definition(code="by_kind", zh="按类型：单科会诊、多学科会诊（MDT）、远程查房、病例讨论、"
               "教学查房，每次会诊计一次（一次查房讨论多名患者也计一次）。",
               en="By kind: single-specialty, MDT, online ward round, case discussion, teaching "
               "round; each consultation counts once (a ward round about several patients "
               "too)."),
    Definition(code="by_requesting_institution", zh="按申请机构：提出会诊申请的机构。",
               en="By requesting institution: the institution that asked."),
    Definition(code="by_target_institution", zh="按受邀机构：被申请会诊的机构（专家所在医院）。",
               en="By consulted institution: the institution asked (the experts' hospital)."),
    Definition(code="by_specialty", zh="按专科：申请时指定的专科；未指定的计为“未指定”。",
               en="By specialty: the specialty the request asked for; none given counts as "
               "unspecified."),
    Definition(code="response", zh="响应时间：从提出申请到受邀机构受理或拒绝的分钟数（撤销或"
               "尚未答复的不计）；中位数；按时率 = 在该紧急程度的答复时限内答复的数 ÷ 已答复数"
               "（时限为系统配置：急会诊、加急、普通）。",
               en="Response time: minutes from the request to the consulted institution's "
               "acceptance or decline (withdrawn and unanswered requests not counted); the "
               "median; within deadline = answered within the urgency's configured deadline "
               "(emergency, urgent, routine) ÷ answered."),
    Definition(code="outcome", zh="转诊与留治：报告已签署（含已结束）的会诊中，申请方据报告向"
               "受邀机构发起转诊的计为“上转”，其余计为“本地留治”；上转比例 = 上转 ÷ 已出报告。",
               en="Referred up vs kept local: of the consultations with a signed report "
               "(closed ones included), those from whose report the requester started a "
               "referral to the consulted institution are referred up, the rest kept local; "
               "share = referred up ÷ reported."),
)}


@dataclass(frozen=True)
class CountsQuery:
    """What to count: months of the request (YYYY-MM, both included), an institution on
    either side, a kind."""

    period_from: str | None = None
    period_to: str | None = None
    institution_id: int | None = None
    kind: ConsultationKind | None = None


def month_start(month: str) -> datetime:
    """The first instant of a month (YYYY-MM), Beijing time."""
    year, number = (int(part) for part in month.split("-"))
    return datetime(year, number, 1, tzinfo=BEIJING)


def period_of(query: CountsQuery, now: datetime) -> tuple[str, str]:
    """The query's months; by default the twelve months up to this one."""
    last = query.period_to or now.astimezone(BEIJING).strftime("%Y-%m")
    first = query.period_from or analytics.add_months(last, 1 - DEFAULT_MONTHS)
    if first > last:
        raise InvalidInput("bad_period", "起始月份晚于截止月份",
                           "The first month is after the last one")
    return first, last


def share(part: int, whole: int) -> float | None:
    """``part / whole`` to three places (None when there is nothing to divide)."""
    return round(part / whole, 3) if whole else None


def _scope(session: Session, principal: Principal, institution_id: int | None) -> Any:
    """Consultations either side of which the reader may count (None: all); 403 for an
    institution outside the reader's reach, 404 for none at all."""
    everything = (principal.is_network_wide
                  and analytics.analyst_region(session, principal) is None)
    reach = set() if everything else {
        i.id for i in analytics.in_scope_institutions(session, principal)}
    if institution_id is not None:
        registry.get_institution_or_raise(session, institution_id=institution_id)
        if not everything and institution_id not in reach:
            raise PermissionDenied("无权查看该机构的统计",
                                   "You may not see that institution's figures",
                                   action=Action.CONSULTATION_COUNTS.value)
        reach = {institution_id}
    elif everything:
        return None
    ids = sorted(reach)
    return or_(Consultation.requesting_institution_id.in_(ids),
               Consultation.target_institution_id.in_(ids))


def _grouped(values: list[Any], names: dict[Any, tuple[str, str]]) -> list[CountRow]:
    counted = Counter(values)
    return [CountRow(key=str(getattr(key, "value", key) or ""), name=names.get(key, ("", ""))[0],
                     name_en=names.get(key, ("", ""))[1], count=count)
            for key, count in sorted(counted.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def response_row(settings: Settings, urgency: Urgency,
                 answered_minutes: list[float]) -> ResponseRow:
    """Median response and the share answered within the urgency's deadline."""
    deadline = response_window(settings, urgency).total_seconds() / 60
    within = sum(1 for minutes in answered_minutes if minutes <= deadline)
    zh, en = labels.NAMES[(Urgency, urgency.value)]
    return ResponseRow(
        urgency=urgency, name=zh, name_en=en, deadline_minutes=int(deadline),
        answered=len(answered_minutes),
        median_minutes=round(median(answered_minutes), 1) if answered_minutes else None,
        within_deadline=within, within_deadline_share=share(within, len(answered_minutes)))


def counts(session: Session, settings: Settings, principal: Principal, *,
           query: CountsQuery | None = None) -> ConsultationCounts:
    """The counts over the consultations the principal may see, for the query."""
    authorize(principal, Action.CONSULTATION_COUNTS)
    query = query or CountsQuery()
    first, last = period_of(query, utcnow())
    statement = select(Consultation.kind, Consultation.urgency, Consultation.status,
                       Consultation.requesting_institution_id,
                       Consultation.target_institution_id, Consultation.target_specialty,
                       Consultation.requested_at, Consultation.responded_at,
                       Consultation.follow_up_referral_id).where(
        Consultation.requested_at >= month_start(first),
        Consultation.requested_at < month_start(analytics.add_months(last, 1)))
    condition = _scope(session, principal, query.institution_id)
    if condition is not None:
        statement = statement.where(condition)
    if query.kind is not None:
        statement = statement.where(Consultation.kind == query.kind)
    rows = session.execute(statement).all()
    minutes: dict[Urgency, list[float]] = {urgency: [] for urgency in Urgency}
    for row in rows:
        if row.responded_at is not None:
            minutes[row.urgency].append((row.responded_at - row.requested_at)
                                        .total_seconds() / 60)
    everyone = [m for values in minutes.values() for m in values]
    reported = [row for row in rows if row.status in REPORTED]
    referred = sum(1 for row in reported if row.follow_up_referral_id is not None)
    places = {i.id: (i.name, i.name_en or i.name) for i in registry.institutions_by_id(
        session, ids={r.requesting_institution_id for r in rows}
        | {r.target_institution_id for r in rows}).values()}
    kinds = {kind: labels.NAMES[(ConsultationKind, kind.value)] for kind in ConsultationKind}
    audit.record(session, action="consultation.counts", entity_type="consultation",
                 institution_id=principal.institution_id,
                 detail={"total": len(rows), "from": first, "to": last,
                         "institution_id": query.institution_id,
                         "kind": query.kind.value if query.kind else None})
    return ConsultationCounts(
        period_from=first, period_to=last, total=len(rows),
        by_kind=_grouped([r.kind for r in rows], kinds),
        by_requesting_institution=_grouped([r.requesting_institution_id for r in rows], places),
        by_target_institution=_grouped([r.target_institution_id for r in rows], places),
        by_specialty=_grouped([r.target_specialty for r in rows],
                              {"": ("未指定", "unspecified")}),
        answered=len(everyone),
        median_response_minutes=round(median(everyone), 1) if everyone else None,
        response_by_urgency=[response_row(settings, urgency, minutes[urgency])
                             for urgency in (Urgency.EMERGENCY, Urgency.URGENT,
                                             Urgency.ROUTINE)],
        reported=len(reported), referred_up=referred, kept_local=len(reported) - referred,
        referred_up_share=share(referred, len(reported)),
        definitions=list(DEFINITIONS.values()),
    )


# ---------------------------------------------------------------- as a file

COLUMNS = tuple(Column(key, zh, key) for key, zh in (
    ("period_from", "起始月"), ("period_to", "截止月"), ("dimension", "维度"),
    ("key", "编码"), ("name", "名称"), ("count", "数量"), ("share", "占比"),
    ("deadline_minutes", "答复时限（分钟）"), ("median_minutes", "响应时间中位数（分钟）"),
    ("within_deadline", "按时答复数"),
))


def counts_table(report: ConsultationCounts) -> Table:
    """The counts as one long table: a line per group of every dimension."""
    period = {"period_from": report.period_from, "period_to": report.period_to}
    lines: list[dict[str, Any]] = [{**period, "dimension": "total", "key": "",
                                    "name": "会诊数 consultations", "count": report.total}]
    for dimension in ("by_kind", "by_requesting_institution", "by_target_institution",
                      "by_specialty"):
        groups: list[CountRow] = getattr(report, dimension)
        lines += [{**period, "dimension": dimension, "key": row.key,
                   "name": f"{row.name} {row.name_en}".strip(), "count": row.count,
                   "share": share(row.count, report.total)} for row in groups]
    lines += [{**period, "dimension": "response", "key": row.urgency.value,
               "name": f"{row.name} {row.name_en}", "count": row.answered,
               "share": row.within_deadline_share, "deadline_minutes": row.deadline_minutes,
               "median_minutes": row.median_minutes, "within_deadline": row.within_deadline}
              for row in report.response_by_urgency]
    lines += [{**period, "dimension": "outcome", "key": key, "name": name, "count": count,
               "share": share(count, report.reported)}
              for key, name, count in (("referred_up", "上转 referred up", report.referred_up),
                                       ("kept_local", "本地留治 kept local",
                                        report.kept_local))]
    definition = " ".join(f"{d.zh} / {d.en}" for d in report.definitions)
    return Table(title="consultation counts", columns=COLUMNS, rows=lines,
                 definition=definition)

