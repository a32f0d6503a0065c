"""The network's metrics beyond volumes, read from ``metric_month`` only (rebuilt by
``yilian analytics refresh``): referrals, green-channel times, consultations, visiting-expert
clinics and expert days, tests avoided and money saved, settlement totals by fund.

Each report's definition stands beside its figures; a reader sees the rows of institutions
their role allows (``service.in_scope_institutions``), either side of a flow counting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from yilian.analytics import service
from yilian.analytics.metric_refresh import FUNDS
from yilian.analytics.metric_schemas import (
    ClinicReport,
    ClinicRow,
    ConsultationReport,
    FundRow,
    GreenChannelReport,
    GreenChannelRow,
    KeyCount,
    RecognitionReport,
    RecognitionRow,
    ReferralFlow,
    ReferralMonth,
    ReferralReport,
    SettlementReport,
)
from yilian.analytics.models import MetricCode, MetricMonth
from yilian.analytics.schemas import Definition
from yilian.auth.permissions import Action, Principal
from yilian.db import utcnow
from yilian.errors import InvalidInput, PermissionDenied
from yilian.referrals.rules import CLOCK_TARGETS
from yilian.registry import service as registry
from yilian.registry.models import Institution

PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class MetricQuery:
    """Filters every metric takes: period, region, institution, specialty."""

    period_from: str | None = None  # YYYY-MM; default: the last complete calendar year
    period_to: str | None = None
    region_code: str | None = None
    institution_id: int | None = None
    specialty: str | None = None


def last_complete_year() -> tuple[str, str]:
    """January to December of the last calendar year that has ended (Beijing time)."""
    year = (utcnow() + timedelta(hours=8)).year - 1
    return f"{year}-01", f"{year}-12"


def period_of(period_from: str | None, period_to: str | None) -> tuple[str, str]:
    """The asked months, checked; by default the last complete calendar year."""
    for value, name in ((period_from, "from"), (period_to, "to")):
        service._check_month(value, name)
    if period_from is None and period_to is None:
        return last_complete_year()
    last = period_to or service.add_months(str(period_from), 11)
    first = period_from or service.add_months(last, -11)
    if service.month_count(first, last) < 1:
        raise InvalidInput("period_reversed", "起始月份不能晚于结束月份",
                           "The first month cannot come after the last")
    return first, last


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to 0.1 (None when the whole is zero)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT, ROUND_HALF_UP)


def median_of(histogram: Sequence[tuple[int, int]]) -> Decimal | None:
    """The median of values given as (value, how many): the middle one, or the mean of the
    two middle ones (as ``statistics.median`` over the expanded values)."""
    total = sum(count for _, count in histogram)
    if total <= 0:
        return None
    wanted = [(total - 1) // 2, total // 2]
    found: list[int] = []
    seen = 0
    for value, count in sorted(histogram):
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return (Decimal(found[0] + found[1]) / 2).quantize(PERCENT, ROUND_HALF_UP)


def scope(session: Session, principal: Principal, query: MetricQuery) -> list[Institution]:
    """The institutions the reader may see, narrowed to the asked region and institution
    (kept for the session's request: a dashboard asks it once per metric)."""
    known: dict[tuple[int, str | None], list[Institution]] = session.info.setdefault(
        "analytics_scope", {})
    key = (principal.user_id, query.region_code)
    if key not in known:
        known[key] = service.in_scope_institutions(session, principal,
                                                   region_code=query.region_code)
    institutions = known[key]
    if query.institution_id is not None:
        institutions = [i for i in institutions if i.id == query.institution_id]
        if not institutions:
            registry.get_institution_or_raise(session, institution_id=query.institution_id)
            raise PermissionDenied("无权查看该机构的统计", "You may not see that institution's "
                                   "figures", action=Action.ANALYTICS_READ.value)
    return institutions


@dataclass(frozen=True)
class Reading:
    """One metric over the reader's institutions and months: what every query shares."""

    metric: MetricCode
    ids: list[int]
    first: str
    last: str
    specialty: str | None = None
    either_side: bool = True  # flows: count when the counterpart is in scope too

    def conditions(self) -> list[ColumnElement[bool]]:
        side: ColumnElement[bool] = MetricMonth.institution_id.in_(self.ids)
        if self.either_side:
            side = or_(side, MetricMonth.counterpart_key.in_(self.ids))
        found = [MetricMonth.metric == self.metric, MetricMonth.month >= self.first,
                 MetricMonth.month <= self.last, side]
        if self.specialty:
            found.append(MetricMonth.specialty == self.specialty)
        return found

    def sums(self, session: Session, *columns: Any) -> list[tuple[Any, ...]]:
        """Count and amount summed by ``columns``."""
        statement = (select(*columns, func.sum(MetricMonth.count), func.sum(MetricMonth.amount))
                     .where(*self.conditions()))
        if columns:
            statement = statement.group_by(*columns).order_by(*columns)
        return [tuple(row) for row in session.execute(statement)]

    def by_category(self, session: Session) -> dict[str, int]:
        return {str(row[0]): int(row[1] or 0) for row in self.sums(session, MetricMonth.category)}


def _reading(session: Session, principal: Principal, query: MetricQuery, metric: MetricCode,
             *, either_side: bool = True) -> tuple[Reading, dict[int, Institution]]:
    first, last = period_of(query.period_from, query.period_to)
    institutions = scope(session, principal, query)
    by_id = {i.id: i for i in institutions}
    return Reading(metric, sorted(by_id), first, last, query.specialty, either_side), by_id


def _names(session: Session, ids: set[int], known: dict[int, Institution]) -> dict[int, str]:
    names = {i: known[i].name for i in ids if i in known}
    for missing in ids - set(names):
        other = registry.get_institution(session, institution_id=missing)
        names[missing] = other.name if other is not None else str(missing)
    return names


# ---------------------------------------------------------------- definitions

REFERRALS = Definition(
    code="referrals",
    zh=("双向转诊：按提交月份（北京时间）统计已提交的转诊（未提交的草稿不计），分上转、下转、"
        "平转；下转占比 = 下转 ÷ 全部。答复用时为提交到接收方答复（同意或拒绝）的分钟数，取中位数"
        "（超过 7 天按 7 天计）。超时占比 = 晚于答复时限才答复或至今超时未答复的转诊 ÷ 设有时限的"
        "转诊。数据为每次汇总刷新时的转诊记录月度汇总。"),
    en=("Two-way referral: referrals submitted (drafts never submitted are not counted), by "
        "Beijing month of submission, up, down and lateral; down share = down ÷ all. Response "
        "time is minutes from submission to the receiving side's answer (accept or decline), "
        "median (more than 7 days counts as 7 days). Overdue share = referrals answered after "
        "their deadline or still unanswered past it ÷ referrals with a deadline. Source: the "
        "monthly aggregate of referrals at the last refresh."),
)
GREEN_CHANNEL = Definition(
    code="green_channel",
    zh=("绿色通道：胸痛中心进门至球囊扩张（D2B）目标 ≤ 90 分钟，卒中中心进门至溶栓（DNT）"
        "目标 ≤ 60 分钟；按到院（进门）月份统计两个时间点都已记录的病例，给出中位数和达标比例。"),
    en=("Green channel: chest-pain door-to-balloon target ≤ 90 min, stroke door-to-needle "
        "target ≤ 60 min; cases with both clock times recorded, by month of the door time, "
        "with the median and the share within target."),
)
CONSULTATIONS = Definition(
    code="consultations",
    zh=("远程会诊：按申请月份统计全部会诊申请，分会诊类型；已出具报告（含已结束）的会诊中，"
        "未因会诊转诊上级医院的为留在本地，本地留治率 = 留在本地 ÷ 已出报告。"),
    en=("Remote consultation: every request by month requested, by kind; of those with a "
        "signed report (or closed), the ones not followed by a referral up stayed local; "
        "share kept local = kept local ÷ reported."),
)
CLINICS = Definition(
    code="clinics",
    zh=("专家出诊：专家在其执业机构以外的机构出诊的预约（录入错误、拟约、候补不计），按出诊日"
        "月份统计；到诊率 = 到诊 ÷（到诊 + 爽约）。专家在岗天数：常驻派驻按派驻期内每天计，"
        "定期出诊按实际出诊日计，远程不计。"),
    en=("Visiting-expert clinics: appointments with experts at an institution other than "
        "their home (entered in error, proposed and waitlist not counted), by month of the "
        "clinic day; attendance = attended ÷ (attended + no-show). Expert days on site: "
        "every day of a resident posting, each clinic day of a periodic one, none for remote."),
)
RECOGNITION = Definition(
    code="recognition",
    zh=("检查检验结果互认：开单时采纳已有可互认结果而未重复检查的项目数，节省金额按互认目录"
        "价格计，按采纳月份和开单机构统计。"),
    en=("Mutual recognition: tests not repeated because the ordering doctor accepted a "
        "recognisable result, money saved at the catalogue price, by month and ordering "
        "institution."),
)
SETTLEMENT = Definition(
    code="settlement",
    zh=("异地就医直接结算：按结算月份统计各就医机构的结算单各基金金额（医疗费总额、统筹基金、"
        "大病保险、医疗救助、基金支付合计、个人账户、个人现金），冲正的结算在冲正月份扣回。"),
    en=("Cross-region direct settlement: the slip's funds (total medical fee, pooled fund, "
        "critical-illness insurance, medical assistance, all funds, personal account, cash) "
        "per treating institution by settled month; a reversal takes its settlement back in "
        "the month it was reversed."),
)


# ---------------------------------------------------------------- reports


def referral_report(session: Session, principal: Principal, *,
                    query: MetricQuery) -> ReferralReport:
    """Referrals up / down / lateral, the down share, response times and overdue share."""
    reading, by_id = _reading(session, principal, query, MetricCode.REFERRAL)
    directions = reading.by_category(session)
    monthly: dict[str, dict[str, int]] = defaultdict(dict)
    for month, direction, count, _ in reading.sums(session, MetricMonth.month,
                                                   MetricMonth.category):
        monthly[month][direction] = int(count)
    pairs = reading.sums(session, MetricMonth.institution_id, MetricMonth.counterpart_key,
                         MetricMonth.category)
    names = _names(session, {p[0] for p in pairs} | {p[1] for p in pairs}, by_id)
    response = Reading(MetricCode.REFERRAL_RESPONSE, reading.ids, reading.first, reading.last,
                       reading.specialty)
    histogram = [(int(b), int(c)) for b, c, _ in response.sums(session, MetricMonth.bucket)]
    deadline = Reading(MetricCode.REFERRAL_DEADLINE, reading.ids, reading.first, reading.last,
                       reading.specialty).by_category(session)
    overdue = deadline.get("late", 0) + deadline.get("overdue", 0)
    up, down, lateral = (directions.get(d, 0) for d in ("up", "down", "lateral"))
    with_deadline = sum(deadline.values())
    return ReferralReport(
        definition=REFERRALS, period_from=reading.first, period_to=reading.last, up=up,
        down=down, lateral=lateral, total=up + down + lateral,
        down_percent=percent(down, up + down + lateral),
        answered=sum(c for _, c in histogram), median_response_minutes=median_of(histogram),
        with_deadline=with_deadline, overdue=overdue, overdue_percent=percent(overdue,
                                                                              with_deadline),
        months=[ReferralMonth(month=m, up=d.get("up", 0), down=d.get("down", 0),
                              lateral=d.get("lateral", 0)) for m, d in sorted(monthly.items())],
        flows=sorted((ReferralFlow(from_institution_id=a, from_name=names[a],
                                   to_institution_id=b, to_name=names[b], direction=str(d),
                                   count=int(c)) for a, b, d, c, _ in pairs),
                     key=lambda f: (-f.count, f.from_name, f.to_name)),
    )


def green_channel_report(session: Session, principal: Principal, *,
                         query: MetricQuery) -> GreenChannelReport:
    """Door-to-balloon and door-to-needle minutes: cases, median, share within target."""
    reading, _ = _reading(session, principal, query, MetricCode.GREEN_CHANNEL)
    histograms: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for interval, minutes, count, _ in reading.sums(session, MetricMonth.category,
                                                    MetricMonth.bucket):
        histograms[interval].append((int(minutes), int(count)))
    rows = []
    for targets in CLOCK_TARGETS.values():
        for target in targets:
            histogram = histograms.get(target.name, [])
            cases = sum(c for _, c in histogram)
            within = sum(c for m, c in histogram if m <= target.limit_minutes)
            rows.append(GreenChannelRow(
                interval=target.name, target_minutes=target.limit_minutes, cases=cases,
                median_minutes=median_of(histogram), within_target=within,
                within_target_percent=percent(within, cases)))
    return GreenChannelReport(definition=GREEN_CHANNEL, period_from=reading.first,
                              period_to=reading.last, rows=rows)


def consultation_report(session: Session, principal: Principal, *,
                        query: MetricQuery) -> ConsultationReport:
    """Consultations by kind and month, and the share of reported ones kept local."""
    reading, _ = _reading(session, principal, query, MetricCode.CONSULTATION)
    kinds = reading.by_category(session)
    outcomes = Reading(MetricCode.CONSULTATION_OUTCOME, reading.ids, reading.first,
                       reading.last, reading.specialty).by_category(session)
    kept, referred = outcomes.get("kept_local", 0), outcomes.get("referred_up", 0)
    return ConsultationReport(
        definition=CONSULTATIONS, period_from=reading.first, period_to=reading.last,
        total=sum(kinds.values()),
        by_kind=[KeyCount(key=k, count=c) for k, c in sorted(kinds.items())],
        reported=kept + referred, kept_local=kept, referred_up=referred,
        kept_local_percent=percent(kept, kept + referred),
        months=[KeyCount(key=str(m), count=int(c))
                for m, c, _ in reading.sums(session, MetricMonth.month)])


def clinic_report(session: Session, principal: Principal, *,
                  query: MetricQuery) -> ClinicReport:
    """Booked vs attended visiting-expert clinics and expert days on site, per institution."""
    reading, by_id = _reading(session, principal, query, MetricCode.CLINIC, either_side=False)
    per: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for institution, category, count, _ in reading.sums(session, MetricMonth.institution_id,
                                                        MetricMonth.category):
        per[institution][category] += int(count)
    days = Reading(MetricCode.EXPERT_DAYS, reading.ids, reading.first, reading.last,
                   reading.specialty, either_side=False)
    modes: dict[str, int] = defaultdict(int)
    for institution, mode, count, _ in days.sums(session, MetricMonth.institution_id,
                                                 MetricMonth.category):
        per[institution]["days"] += int(count)
        modes[mode] += int(count)
    rows = [ClinicRow(institution_id=i, institution_code=by_id[i].code,
                      institution_name=by_id[i].name,
                      booked=sum(v for k, v in c.items() if k != "days"),
                      attended=c["attended"], noshow=c["noshow"], cancelled=c["cancelled"],
                      expert_days=c["days"])
            for i, c in sorted(per.items(), key=lambda item: by_id[item[0]].code)]
    attended, noshow = sum(r.attended for r in rows), sum(r.noshow for r in rows)
    return ClinicReport(
        definition=CLINICS, period_from=reading.first, period_to=reading.last,
        booked=sum(r.booked for r in rows), attended=attended, noshow=noshow,
        cancelled=sum(r.cancelled for r in rows),
        attended_percent=percent(attended, attended + noshow),
        expert_days=sum(modes.values()),
        expert_days_by_mode=[KeyCount(key=k, count=v) for k, v in sorted(modes.items())],
        rows=rows)


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def recognition_report(session: Session, principal: Principal, *,
                       query: MetricQuery) -> RecognitionReport:
    """Tests avoided and money saved, by month and ordering institution."""
    reading, by_id = _reading(session, principal, query, MetricCode.TESTS_AVOIDED,
                              either_side=False)
    rows = [RecognitionRow(institution_id=i, institution_code=by_id[i].code,
                           institution_name=by_id[i].name, tests_avoided=int(c),
                           money_saved=_money(a))
            for i, c, a in reading.sums(session, MetricMonth.institution_id)]
    rows.sort(key=lambda r: r.institution_code)
    return RecognitionReport(
        definition=RECOGNITION, period_from=reading.first, period_to=reading.last,
        tests_avoided=sum(r.tests_avoided for r in rows),
        money_saved=sum((r.money_saved for r in rows), Decimal("0.00")),
        months=[KeyCount(key=str(m), count=int(c), amount=_money(a))
                for m, c, a in reading.sums(session, MetricMonth.month)],
        rows=rows)


def settlement_report(session: Session, principal: Principal, *,
                      query: MetricQuery) -> SettlementReport:
    """Settlement totals by fund per treating institution, net of reversals."""
    reading, by_id = _reading(session, principal, query, MetricCode.SETTLEMENT,
                              either_side=False)
    found = {(int(i), str(f)): (int(c), _money(a))
             for i, f, c, a in reading.sums(session, MetricMonth.institution_id,
                                            MetricMonth.category)}
    rows = [FundRow(institution_id=i, institution_code=by_id[i].code,
                    institution_name=by_id[i].name, fund=fund, settlements=c, amount=a)
            for (i, fund), (c, a) in sorted(found.items(), key=lambda item: (
                by_id[item[0][0]].code, FUNDS.index(item[0][1])))]
    totals = {fund: sum((r.amount for r in rows if r.fund == fund), Decimal("0.00"))
              for fund in FUNDS}
    return SettlementReport(
        definition=SETTLEMENT, period_from=reading.first, period_to=reading.last,
        settlements=sum(r.settlements for r in rows if r.fund == FUNDS[0]),
        funds=[KeyCount(key=fund, count=sum(r.settlements for r in rows if r.fund == fund),
                        amount=amount) for fund, amount in totals.items()],
        rows=rows)


__all__ = ["MetricQuery", "clinic_report", "consultation_report", "green_channel_report",
           "last_complete_year", "median_of", "percent", "period_of", "recognition_report",
           "referral_report", "scope", "settlement_report"]
