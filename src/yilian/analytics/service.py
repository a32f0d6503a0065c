"""Analytics rules: who sees which institutions' figures, reading encounters (patient-level,
audited), and the volume metric computed from the monthly aggregate — never from raw rows.

Intake lives in ``intake`` (one at a time) and ``history`` (CSV files); the aggregate's
counting rules in ``aggregates``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from yilian.analytics.aggregates import beijing_month
from yilian.analytics.intake import Stored, record_encounter
from yilian.analytics.models import Encounter, VolumeKind, VolumeMonth
from yilian.analytics.schemas import Definition, VolumeMonthRead, VolumeReport, VolumeRow
from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.db import utcnow
from yilian.errors import InvalidInput, NotFound, PermissionDenied
from yilian.patients import service as patients
from yilian.registry import agreements
from yilian.registry import service as registry
from yilian.registry.models import AgreementType, Institution
from yilian.registry.service import InstitutionFilter

__all__ = ["Stored", "VolumeQuery", "add_months", "baseline_months", "get_or_raise",
           "in_scope_institutions", "month_count", "record_encounter", "volume_ratio",
           "volumes"]

RATIO_PLACES = Decimal("0.01")
VOLUMES = Definition(
    code="volumes",
    zh=("服务量：各机构（科室）每月的门急诊人次（按就诊月份）、入院人次（按入院月份）、"
        "出院人次（按出院月份）和手术台次（按手术月份），北京时间计月，已取消的不计。"
        "基线期默认为该机构托管协议（无托管则为最早的合作协议）开始前的 12 个月；"
        "倍数 = 统计期月均量 ÷ 基线期月均量（两期都是 12 个月时即两期总量之比）。"
        "本地 / 异地：患者参保地是否包含机构所在地区；参保地未登记的计为未知。"
        "数据为各院经 FHIR、HL7 v2 或历史文件上报的就诊记录的月度汇总。"),
    en=("Volumes: per institution (or department) and month, outpatient visits (month of the "
        "visit), admissions (month of admission), discharges (month of discharge) and "
        "surgeries (month of the operation), Beijing-time months, cancelled ones not "
        "counted. The baseline defaults to the 12 months before the start of the "
        "institution's trusteeship agreement (else its earliest agreement); the ratio is "
        "the period's monthly mean over the baseline's monthly mean (with two 12-month "
        "periods, simply the ratio of the totals). Local / out-of-region: whether the "
        "patient's insured region contains the institution's region; no insured region "
        "recorded counts as unknown. Source: the monthly aggregate of the encounters "
        "hospitals sent by FHIR, HL7 v2 or history file."),
)


# ---------------------------------------------------------------- months


def _month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def add_months(month: str, count: int) -> str:
    """``2022-07`` plus ``-12`` is ``2021-07``."""
    index = _month_index(month) + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_count(first: str, last: str) -> int:
    """Months from ``first`` to ``last``, both included."""
    return _month_index(last) - _month_index(first) + 1


def baseline_months(start: date) -> tuple[str, str]:
    """The 12 whole months before the month an agreement starts in (the pre-trusteeship year)."""
    start_month = f"{start:%Y-%m}"
    return add_months(start_month, -12), add_months(start_month, -1)


def volume_ratio(period_total: int, period_months: int, baseline_total: int,
                 baseline_months_: int) -> Decimal | None:
    """Monthly mean of the period over that of the baseline, to 0.01 (None: no baseline)."""
    if baseline_total <= 0 or period_months <= 0 or baseline_months_ <= 0:
        return None
    ratio = (Decimal(period_total) / period_months) / (Decimal(baseline_total) / baseline_months_)
    return ratio.quantize(RATIO_PLACES, ROUND_HALF_UP)


# ---------------------------------------------------------------- who sees what


def analyst_region(session: Session, principal: Principal) -> str | None:
    """The region a commission analyst watches: that of the institution their account is
    registered at (the commission's seat), or None (the whole network) without one."""
    if principal.role is not Role.COMMISSION_ANALYST or principal.institution_id is None:
        return None
    seat = registry.get_institution(session, institution_id=principal.institution_id)
    return seat.region_code if seat is not None else None


def in_scope_institutions(session: Session, principal: Principal, *,
                          region_code: str | None = None) -> list[Institution]:
    """The institutions whose figures the reader may see (within ``region_code`` if given)."""
    authorize(principal, Action.ANALYTICS_READ)
    watched = analyst_region(session, principal)
    found: list[Institution] = []
    offset = 0
    while True:
        page, total = registry.list_institutions(
            session, where=InstitutionFilter(region_code=region_code or watched),
            offset=offset, limit=500)
        found.extend(page)
        offset += len(page)
        if not page or offset >= total:
            break
    if watched is not None:
        prefix = registry.region_prefix(watched)
        found = [i for i in found if i.region_code.startswith(prefix)]
    if scope_of(principal, Action.ANALYTICS_READ) is Scope.OWN:
        found = [i for i in found if i.id in principal.institution_ids]
    return found


# ---------------------------------------------------------------- encounters


def visible_condition(principal: Principal) -> ColumnElement[bool] | None:
    """Encounters of people the reader may see, at institutions they may read (None: all)."""
    authorize(principal, Action.ENCOUNTER_READ)
    visible = patients.visible_person_ids(principal)
    return None if visible is None else Encounter.person_id.in_(visible)


def get_or_raise(session: Session, principal: Principal, *, encounter_id: int,
                 resource_type: str) -> Encounter:
    """One encounter the reader may see (404 otherwise); audited."""
    condition = visible_condition(principal)
    statement = select(Encounter).where(Encounter.id == encounter_id,
                                        Encounter.resource_type == resource_type)
    if condition is not None:
        statement = statement.where(condition)
    encounter = session.scalar(statement)
    if encounter is None:
        raise NotFound(resource_type, resource_type, encounter_id)
    audit.record(session, action="encounter.read", entity_type="encounter",
                 entity_id=str(encounter.id), institution_id=principal.institution_id,
                 patient_id=encounter.person_id)
    return encounter


def encounters_statement(principal: Principal, *, resource_type: str) -> Select[Any]:
    """Encounters of one resource type the reader may see, newest first (to narrow)."""
    statement = select(Encounter).where(Encounter.resource_type == resource_type)
    condition = visible_condition(principal)
    if condition is not None:
        statement = statement.where(condition)
    return statement.order_by(Encounter.started_at.desc(), Encounter.id.desc())


def audit_search(session: Session, principal: Principal, found: Sequence[Encounter]) -> None:
    """Record who searched encounters and which came back."""
    audit.record(session, action="encounter.search", entity_type="encounter",
                 institution_id=principal.institution_id,
                 detail={"returned": [e.id for e in found]})


# ---------------------------------------------------------------- the volume metric


@dataclass(frozen=True)
class VolumeQuery:
    """What the volume metric is asked for."""

    period_from: str | None = None  # YYYY-MM; default: the 12 months to last month
    period_to: str | None = None
    kind: VolumeKind | None = None
    institution_id: int | None = None
    region_code: str | None = None
    by_department: bool = False
    baseline_from: str | None = None  # explicit baseline; else from the agreement
    baseline_to: str | None = None
    agreement_id: int | None = None  # take this agreement's start for the baseline


def default_agreements(session: Session, institution_ids: Sequence[int],
                       ) -> dict[int, agreements.AgreementStart]:
    """Each institution's earliest trusteeship agreement (else its earliest agreement): the
    one whose start fixes the default baseline (TG-2015-01, not its 2025 renewal)."""
    found: dict[int, agreements.AgreementStart] = {}
    for institution_id, starts in agreements.agreement_starts(
            session, institution_ids=institution_ids).items():
        trusteeships = [a for a in starts if a.type is AgreementType.TRUSTEESHIP]
        found[institution_id] = (trusteeships or starts)[0]
    return found


def _check_month(value: str | None, name: str) -> None:
    if value is None:
        return
    parts = value.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or not 1 <= int(parts[1]) <= 12:
        raise InvalidInput("invalid_month", f"{name} 须为 YYYY-MM 格式：{value}",
                           f"{name} must be written YYYY-MM: {value}")


def _period(query: VolumeQuery) -> tuple[str, str]:
    for value, name in ((query.period_from, "from"), (query.period_to, "to"),
                        (query.baseline_from, "baseline_from"),
                        (query.baseline_to, "baseline_to")):
        _check_month(value, name)
    if (query.baseline_from is None) != (query.baseline_to is None):
        raise InvalidInput("baseline_incomplete", "基线期须同时给出起止月份",
                           "Give both baseline_from and baseline_to, or neither")
    last = query.period_to or add_months(beijing_month(utcnow()), -1)
    first = query.period_from or add_months(last, -11)
    if month_count(first, last) < 1 or (query.baseline_from and query.baseline_to and month_count(
            query.baseline_from, query.baseline_to) < 1):
        raise InvalidInput("period_reversed", "起始月份不能晚于结束月份",
                           "The first month cannot come after the last")
    return first, last


Group = tuple[int, int, VolumeKind]


def _sums(session: Session, ids: list[int], first: str, last: str, query: VolumeQuery,
          ) -> dict[Group, tuple[int, int, int, int]]:
    department = VolumeMonth.department_key if query.by_department else None
    columns: list[Any] = [VolumeMonth.institution_id,
                          department if department is not None else func.min(0),
                          VolumeMonth.kind, func.sum(VolumeMonth.total),
                          func.sum(VolumeMonth.local), func.sum(VolumeMonth.out_of_region),
                          func.sum(VolumeMonth.unknown_region)]
    statement = select(*columns).where(VolumeMonth.institution_id.in_(ids),
                                       VolumeMonth.month >= first, VolumeMonth.month <= last)
    if query.kind is not None:
        statement = statement.where(VolumeMonth.kind == query.kind)
    group: list[Any] = [VolumeMonth.institution_id, VolumeMonth.kind]
    if department is not None:
        group.append(department)
    return {(row[0], int(row[1]), row[2]): (int(row[3]), int(row[4]), int(row[5]), int(row[6]))
            for row in session.execute(statement.group_by(*group))}


def _months(session: Session, ids: list[int], first: str, last: str,
            query: VolumeQuery) -> list[VolumeMonthRead]:
    department = VolumeMonth.department_key
    statement = (select(VolumeMonth.institution_id,
                        department if query.by_department else func.min(0),
                        VolumeMonth.kind, VolumeMonth.month, func.sum(VolumeMonth.total),
                        func.sum(VolumeMonth.local), func.sum(VolumeMonth.out_of_region),
                        func.sum(VolumeMonth.unknown_region))
                 .where(VolumeMonth.institution_id.in_(ids), VolumeMonth.month >= first,
                        VolumeMonth.month <= last))
    if query.kind is not None:
        statement = statement.where(VolumeMonth.kind == query.kind)
    group: list[Any] = [VolumeMonth.institution_id, VolumeMonth.kind, VolumeMonth.month]
    if query.by_department:
        group.append(department)
    rows = session.execute(statement.group_by(*group).order_by(
        VolumeMonth.institution_id, VolumeMonth.kind, VolumeMonth.month))
    return [VolumeMonthRead(institution_id=r[0], department_id=int(r[1]) or None, kind=r[2],
                            month=r[3], total=int(r[4]), local=int(r[5]),
                            out_of_region=int(r[6]), unknown_region=int(r[7])) for r in rows]


def _baselines(session: Session, query: VolumeQuery, institutions: list[Institution],
               ) -> dict[int, tuple[str, str, str]]:
    """Each institution's baseline months and what fixed them."""
    if query.baseline_from and query.baseline_to:
        return {i.id: (query.baseline_from, query.baseline_to, "explicit") for i in institutions}
    if query.agreement_id is not None:
        agreement = agreements.get_agreement_or_raise(session, agreement_id=query.agreement_id)
        first, last = baseline_months(agreement.start_date)
        return {i.id: (first, last, agreement.code) for i in institutions}
    found: dict[int, tuple[str, str, str]] = {}
    for institution_id, default in default_agreements(
            session, [i.id for i in institutions]).items():
        first, last = baseline_months(default.start_date)
        found[institution_id] = (first, last, default.code)
    return found


def volumes(session: Session, principal: Principal, *, query: VolumeQuery) -> VolumeReport:
    """The volume metric over the reader's institutions: period totals with their local /
    out-of-region split, the baseline and the ratio, and the months behind them."""
    first, last = _period(query)
    institutions = in_scope_institutions(session, principal, region_code=query.region_code)
    if query.institution_id is not None:
        institutions = [i for i in institutions if i.id == query.institution_id]
        if not institutions:
            registry.get_institution_or_raise(session, institution_id=query.institution_id)
            raise PermissionDenied("无权查看该机构的统计", "You may not see that institution's "
                                   "figures", action=Action.ANALYTICS_READ.value)
    by_id = {i.id: i for i in institutions}
    ids = sorted(by_id)
    period = _sums(session, ids, first, last, query)
    baselines = _baselines(session, query, institutions)
    baseline_sums: dict[Group, tuple[int, int, int, int]] = {}
    for span in {(b[0], b[1]) for b in baselines.values()}:
        sharing = [i for i, b in baselines.items() if (b[0], b[1]) == span]
        for key, counts in _sums(session, sharing, span[0], span[1], query).items():
            baseline_sums[key] = counts
    rows: list[VolumeRow] = []
    for key in sorted(set(period) | {k for k in baseline_sums if k[0] in baselines},
                      key=lambda k: (by_id[k[0]].code, k[1], list(VolumeKind).index(k[2]))):
        institution_id, department_key, kind = key
        institution = by_id[institution_id]
        total, local, out_of_region, unknown = period.get(key, (0, 0, 0, 0))
        baseline = baselines.get(institution_id)
        baseline_total = baseline_sums.get(key, (0, 0, 0, 0))[0] if baseline else None
        rows.append(VolumeRow(
            institution_id=institution_id, institution_code=institution.code,
            institution_name=institution.name, department_id=department_key or None,
            kind=kind, period_from=first, period_to=last, period_total=total, local=local,
            out_of_region=out_of_region, unknown_region=unknown,
            baseline_from=baseline[0] if baseline else None,
            baseline_to=baseline[1] if baseline else None, baseline_total=baseline_total,
            baseline_source=baseline[2] if baseline else "",
            ratio=volume_ratio(total, month_count(first, last), baseline_total or 0,
                               month_count(baseline[0], baseline[1])) if baseline else None))
    audit.record(session, action="analytics.volumes", entity_type="volume_month",
                 institution_id=principal.institution_id,
                 detail={"institutions": ids, "from": first, "to": last})
    return VolumeReport(definition=VOLUMES, rows=rows,
                        months=_months(session, ids, first, last, query))
