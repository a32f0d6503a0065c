"""How many encounters the demo history holds, where and when: a pure plan, no database.

Two stories of the seed articles, reproduced as counts that ``analytics.demo`` turns into
encounter rows (and the dashboards back into the seeds' figures):

- 北京儿童医院保定医院 (``BCH-BD``): in the best year, 2025, 629,464 outpatient visits, 24,690
  admissions and 6,496 surgeries; against the 12 months before the first trusteeship
  (TG-2015-01, from 2015-05-15: baseline 2014-05 … 2015-04) that is 2.47×, 1.32× and 3.46×
  as ``service.volume_ratio`` computes them. The years between are sampled at one month
  each (May, the trusteeship's anniversary), growing steadily, so a trend can be drawn
  without loading ten more years of rows.
- The Guang'anmen partnership (QY-2022-02 / GJ-2022-05, from 2022-04-01): admissions of
  Baoding-insured patients to TCM and cardiology departments outside Baoding fall by 60 %
  from the baseline (2021-04 … 2022-03) to 2025, month by month in between, while the
  same departments of 保定市第一中医院 (``BDTCM``) take them in.

``scale`` shrinks every count (tests use 0.05); the counts are then chosen so the rounded
ratios and the drop still come out exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from yilian.analytics.models import EncounterKind
from yilian.analytics.service import add_months, baseline_months, volume_ratio

BEST_YEAR = 2025
TRUSTEESHIP_CODE = "TG-2015-01"
TRUSTEESHIP_START = date(2015, 5, 15)
PARTNERSHIP_CODE = "QY-2022-02"
PARTNERSHIP_START = date(2022, 4, 1)
CHILDREN_HOSPITAL = "BCH-BD"
TCM_PARTNER = "BDTCM"
BAODING = "130600"
SAMPLED_MONTH = 5  # the years between: May of each, the trusteeship's anniversary

# The seeds' figures: the best year's count and its ratio to the pre-trusteeship year.
SEED_FIGURES: dict[EncounterKind, tuple[int, Decimal]] = {
    EncounterKind.OUTPATIENT: (629_464, Decimal("2.47")),
    EncounterKind.INPATIENT: (24_690, Decimal("1.32")),
    EncounterKind.SURGERY: (6_496, Decimal("3.46")),
}
OUTFLOW_DROP = Decimal("0.60")  # 本地患者转诊率下降60%

# Paediatric seasons: respiratory winters, holiday surgery in February and summer.
SEASON: dict[EncounterKind, tuple[float, ...]] = {
    EncounterKind.OUTPATIENT: (1.15, 0.95, 1.0, 0.95, 0.9, 0.9, 1.05, 1.05, 0.9, 0.9, 1.05, 1.2),
    EncounterKind.INPATIENT: (1.1, 0.9, 1.0, 0.95, 0.95, 0.95, 1.05, 1.05, 0.95, 0.95, 1.0, 1.15),
    EncounterKind.SURGERY: (1.1, 1.2, 0.85, 0.85, 0.85, 0.9, 1.3, 1.3, 0.85, 0.85, 0.85, 1.1),
}
ADULT_SEASON = (1.15, 0.9, 1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.0, 1.05, 1.2)

# BCH-BD departments and their weight per kind (departments.csv, profile ``children``).
CHILDREN_DEPARTMENTS: dict[EncounterKind, dict[str, int]] = {
    EncounterKind.OUTPATIENT: {
        "RESP": 22, "EMER": 16, "GAST": 9, "NEON": 4, "NEPH1": 3, "NEPH2": 3, "CARD": 4,
        "NEUR": 6, "HEMA": 3, "INFE": 6, "ENDO": 5, "GSUR": 4, "ORTH": 4, "CSUR": 1,
        "UROL": 2, "NSUR": 1, "ENT": 4, "OPHT": 3},
    EncounterKind.INPATIENT: {
        "NEON": 12, "RESP": 15, "NEPH1": 5, "NEPH2": 5, "CARD": 6, "NEUR": 8, "GAST": 6,
        "HEMA": 10, "INFE": 7, "ENDO": 4, "GSUR": 7, "ORTH": 5, "CSUR": 3, "UROL": 4,
        "NSUR": 3, "ENT": 4, "OPHT": 2, "ICU": 4},
    EncounterKind.SURGERY: {
        "GSUR": 30, "ORTH": 18, "CSUR": 9, "UROL": 15, "NSUR": 7, "ENT": 14, "OPHT": 7},
}
OUT_OF_REGION_SHARE = Decimal("0.12")  # BCH-BD's children insured in other cities


class Pool(enum.StrEnum):
    """Which demo patients an encounter is drawn from."""

    BAODING_CHILDREN = "baoding_children"  # insured in Baoding, registered at BCH-BD
    VISITING_CHILDREN = "visiting_children"  # insured elsewhere, registered at BCH-BD
    BAODING_ADULTS = "baoding_adults"  # insured in Baoding, registered at BDTCM
    BAODING_ADULTS_IN_BEIJING = "baoding_adults_in_beijing"  # …, registered at GAMH


@dataclass(frozen=True)
class Flow:
    """Baoding-insured admissions to one department outside Baoding before the partnership
    (a year, at full scale), and the BDTCM department that takes them in afterwards."""

    institution_code: str
    department_code: str
    baseline_year: int
    local_department: str


OUTFLOWS = (
    Flow("GAMH", "CARD", 1800, "CARD"), Flow("GAMH", "NEUR", 900, "NEUR"),
    Flow("GAMH", "ONCO", 600, "ONCO"), Flow("GAMH", "GAST", 300, "GAST"),
    Flow("PKUPH", "CARD", 600, "CARD"), Flow("PKUPH", "TCM", 300, "GAST"),
    Flow("CJFH", "CARD", 300, "CARD"), Flow("CJFH", "TCM", 200, "NEUR"),
)
# What BDTCM's same departments admitted of Baoding-insured patients in the baseline year.
LOCAL_BASELINE = {"CARD": 3000, "NEUR": 2400, "ONCO": 1800, "GAST": 1200}


@dataclass(frozen=True)
class Batch:
    """So many encounters of one kind at one department in one month, from one pool."""

    institution_code: str
    department_code: str
    kind: EncounterKind
    month: str
    count: int
    pool: Pool


@dataclass
class HistoryPlan:
    """Every batch of the demo history, and the figures it is built to show."""

    scale: float
    batches: list[Batch] = field(default_factory=list)
    # kind → (baseline year total, best year total) at BCH-BD
    children_hospital: dict[EncounterKind, tuple[int, int]] = field(default_factory=dict)
    outflow: tuple[int, int] = (0, 0)  # Baoding-insured admissions outside Baoding

    @property
    def encounters(self) -> int:
        """How many encounter rows the plan makes."""
        return sum(batch.count for batch in self.batches)


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shared out in proportion to ``weights``, whole numbers that add up to it
    (largest remainder first)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for index in by_remainder[:total - sum(counts)]:
        counts[index] += 1
    return counts


def fit_baseline(target: int, ratio: Decimal) -> tuple[int, int]:
    """The (best year, baseline year) totals nearest to ``target`` whose ratio, as the
    volume metric rounds it, is exactly ``ratio``: the target itself when possible."""
    for step in range(0, 200):
        for period in dict.fromkeys((target + step, target - step)):
            if period <= 0:
                continue
            guess = round(period / ratio)
            for baseline in sorted(range(max(guess - 3, 1), guess + 4),
                                   key=lambda b: abs(b - guess)):
                if volume_ratio(period, 12, baseline, 12) == ratio:
                    return period, baseline
    raise ValueError(f"no counts near {target} give the ratio {ratio}")


def fit_drop(target: float, drop: Decimal) -> tuple[int, int]:
    """(baseline, best year) near ``target`` falling by exactly ``drop``: the baseline a
    multiple of 5, so 40 % of it is a whole number."""
    baseline = max(5, 5 * round(target / 5))
    return baseline, int(baseline * (1 - drop))


def _months_of(first: str) -> list[str]:
    return [add_months(first, step) for step in range(12)]


def _year_batches(code: str, departments: dict[str, int], kind: EncounterKind,
                  months: list[str], total: int, season: Sequence[float],
                  pools: Sequence[tuple[Pool, Decimal]]) -> list[Batch]:
    """One year of one kind at one institution: months by season, then departments, then
    the share of each patient pool."""
    weights = [season[int(month[5:]) - 1] for month in months]
    batches = []
    for month, in_month in zip(months, apportion(total, weights), strict=True):
        for department, count in zip(departments, apportion(in_month, list(
                departments.values())), strict=True):
            for pool, number in zip([p for p, _ in pools], apportion(count, [
                    float(share) for _, share in pools]), strict=True):
                if number:
                    batches.append(Batch(code, department, kind, month, number, pool))
    return batches


def _children_hospital(plan: HistoryPlan) -> None:
    baseline_first, _ = baseline_months(TRUSTEESHIP_START)
    pools = [(Pool.BAODING_CHILDREN, 1 - OUT_OF_REGION_SHARE),
             (Pool.VISITING_CHILDREN, OUT_OF_REGION_SHARE)]
    for kind, (target, ratio) in SEED_FIGURES.items():
        period, baseline = fit_baseline(round(target * plan.scale), ratio)
        plan.children_hospital[kind] = (baseline, period)
        departments, season = CHILDREN_DEPARTMENTS[kind], SEASON[kind]
        plan.batches += _year_batches(CHILDREN_HOSPITAL, departments, kind,
                                      _months_of(baseline_first), baseline, season, pools)
        plan.batches += _year_batches(CHILDREN_HOSPITAL, departments, kind,
                                      _months_of(f"{BEST_YEAR}-01"), period, season, pools)
        # The years between: one month each, on a steady (geometric) growth path from the
        # baseline's monthly mean (its middle: late 2014) to the best year's (mid 2025).
        span = BEST_YEAR + 0.5 - (TRUSTEESHIP_START.year - 0.5)
        for year in range(TRUSTEESHIP_START.year, BEST_YEAR):
            progress = (year + (SAMPLED_MONTH - 0.5) / 12 - (TRUSTEESHIP_START.year - 0.5)) / span
            mean = baseline / 12 * (period / baseline) ** progress
            month_total = round(mean * season[SAMPLED_MONTH - 1] / (sum(season) / 12))
            month = f"{year}-{SAMPLED_MONTH:02d}"
            plan.batches += _year_batches(CHILDREN_HOSPITAL, departments, kind, [month],
                                          month_total, season, pools)


def _partnership(plan: HistoryPlan) -> None:
    baseline_first, _ = baseline_months(PARTNERSHIP_START)
    partnership_month = f"{PARTNERSHIP_START:%Y-%m}"
    between = [add_months(partnership_month, step) for step in range(
        (BEST_YEAR - PARTNERSHIP_START.year) * 12 - PARTNERSHIP_START.month + 1)]
    out_baseline = out_best = 0
    absorbed: dict[str, int] = dict.fromkeys(LOCAL_BASELINE, 0)
    for flow in OUTFLOWS:
        baseline, best = fit_drop(flow.baseline_year * plan.scale, OUTFLOW_DROP)
        out_baseline, out_best = out_baseline + baseline, out_best + best
        absorbed[flow.local_department] += baseline - best
        _three_periods(plan, flow.institution_code, flow.department_code, baseline, best,
                       baseline_first, between, Pool.BAODING_ADULTS_IN_BEIJING)
    for department, year in LOCAL_BASELINE.items():
        baseline = max(1, round(year * plan.scale))
        _three_periods(plan, TCM_PARTNER, department, baseline, baseline + absorbed[department],
                       baseline_first, between, Pool.BAODING_ADULTS)
    plan.outflow = (out_baseline, out_best)


def _three_periods(plan: HistoryPlan, code: str, department: str, baseline: int, best: int,
                   baseline_first: str, between: list[str], pool: Pool) -> None:
    """Admissions of the baseline year, the months in between (moving in a straight line
    from the one monthly mean to the other) and the best year."""
    departments = {department: 1}
    pools = [(pool, Decimal(1))]
    kind = EncounterKind.INPATIENT
    plan.batches += _year_batches(code, departments, kind, _months_of(baseline_first),
                                  baseline, ADULT_SEASON, pools)
    for step, month in enumerate(between, start=1):
        mean = baseline / 12 + (best - baseline) / 12 * step / (len(between) + 1)
        count = round(mean * ADULT_SEASON[int(month[5:]) - 1] / (sum(ADULT_SEASON) / 12))
        plan.batches += _year_batches(code, departments, kind, [month], count, ADULT_SEASON,
                                      pools)
    plan.batches += _year_batches(code, departments, kind, _months_of(f"{BEST_YEAR}-01"),
                                  best, ADULT_SEASON, pools)


def plan_history(scale: float) -> HistoryPlan:
    """The demo history at ``scale`` (1.0: the seeds' own counts)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    plan = HistoryPlan(scale=scale)
    _children_hospital(plan)
    _partnership(plan)
    return plan


__all__ = ["BAODING", "BEST_YEAR", "CHILDREN_HOSPITAL", "OUTFLOWS", "OUTFLOW_DROP",
           "PARTNERSHIP_CODE", "PARTNERSHIP_START", "SEED_FIGURES", "TCM_PARTNER",
           "TRUSTEESHIP_CODE", "TRUSTEESHIP_START", "Batch", "Flow", "HistoryPlan", "Pool",
           "apportion", "fit_baseline", "fit_drop", "plan_history"]
