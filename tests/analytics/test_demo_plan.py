"""The demo history's plan, without a database: at every scale the children's hospital's
best year against its pre-trusteeship year gives the seeds' 2.47× / 1.32× / 3.46× as the
volume metric rounds them, and Baoding's insured admissions outside Baoding fall by 60 %;
at full scale the best year holds the seeds' own counts."""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest

from yilian.analytics import demo_plan
from yilian.analytics.demo_plan import (
    BAODING,
    CHILDREN_HOSPITAL,
    SEED_FIGURES,
    TCM_PARTNER,
    HistoryPlan,
    Pool,
    apportion,
    fit_baseline,
    plan_history,
)
from yilian.analytics.models import EncounterKind
from yilian.analytics.service import volume_ratio

SCALES = (0.05, 0.1, 0.137, 0.25, 0.5, 1.0)
BASELINE = ("2014-05", "2015-04")  # the 12 months before TG-2015-01 began on 2015-05-15
PARTNERSHIP_BASELINE = ("2021-04", "2022-03")  # before QY-2022-02 on 2022-04-01
INSURED_IN = {Pool.BAODING_CHILDREN: BAODING, Pool.VISITING_CHILDREN: "elsewhere",
              Pool.BAODING_ADULTS: BAODING, Pool.BAODING_ADULTS_IN_BEIJING: BAODING}
OUTSIDE_BAODING = {"GAMH", "PKUPH", "CJFH"}


def totals(plan: HistoryPlan, code: str, first: str, last: str) -> Counter[EncounterKind]:
    """Encounters per kind at one institution in the months first … last."""
    found: Counter[EncounterKind] = Counter()
    for batch in plan.batches:
        if batch.institution_code == code and first <= batch.month <= last:
            found[batch.kind] += batch.count
    return found


def drop(before: int, after: int) -> Decimal:
    """The fall from one 12-month period to another, as a whole percentage."""
    return ((1 - Decimal(after) / Decimal(before)) * 100).quantize(Decimal(1), ROUND_HALF_UP)


def baoding_admissions(plan: HistoryPlan, first: str, last: str, *, outside: bool) -> int:
    """Admissions of Baoding-insured patients treated outside (or inside) Baoding."""
    return sum(b.count for b in plan.batches
               if b.kind is EncounterKind.INPATIENT and INSURED_IN[b.pool] == BAODING
               and (b.institution_code in OUTSIDE_BAODING) == outside
               and first <= b.month <= last)


@pytest.mark.parametrize("scale", SCALES)
def test_the_children_hospital_shows_the_seeds_ratios_at_every_scale(scale: float) -> None:
    plan = plan_history(scale)
    baseline = totals(plan, CHILDREN_HOSPITAL, *BASELINE)
    best = totals(plan, CHILDREN_HOSPITAL, "2025-01", "2025-12")

    for kind, (target, ratio) in SEED_FIGURES.items():
        assert volume_ratio(best[kind], 12, baseline[kind], 12) == ratio, kind
        assert best[kind] == round(target * scale), kind  # the scaled seed count itself
        assert plan.children_hospital[kind] == (baseline[kind], best[kind])


def test_at_full_scale_the_best_year_holds_the_seeds_counts() -> None:
    plan = plan_history(1.0)
    best = totals(plan, CHILDREN_HOSPITAL, "2025-01", "2025-12")
    baseline = totals(plan, CHILDREN_HOSPITAL, *BASELINE)

    assert best == {EncounterKind.OUTPATIENT: 629_464, EncounterKind.INPATIENT: 24_690,
                    EncounterKind.SURGERY: 6_496}
    # e.g. 629,464 ÷ 254,844 = 2.4700 (any baseline from 254,330 to 255,360 rounds to 2.47)
    assert {kind: str(volume_ratio(best[kind], 12, baseline[kind], 12)) for kind in best} == {
        EncounterKind.OUTPATIENT: "2.47", EncounterKind.INPATIENT: "1.32",
        EncounterKind.SURGERY: "3.46"}


def test_the_years_between_grow_steadily_with_one_sampled_month_each() -> None:
    plan = plan_history(1.0)
    sampled = {year: totals(plan, CHILDREN_HOSPITAL, f"{year}-05", f"{year}-05")
               for year in range(2015, 2025)}

    for kind in SEED_FIGURES:
        series = [sampled[year][kind] for year in range(2015, 2025)]
        assert series == sorted(series) and len(set(series)) == len(series), kind
    months = {b.month for b in plan.batches if b.institution_code == CHILDREN_HOSPITAL
              and "2015-05" <= b.month <= "2024-12"}
    assert months == {f"{year}-05" for year in range(2015, 2025)}
    # seasons: the respiratory winter beats the autumn in the best year
    winter = sum(b.count for b in plan.batches if b.institution_code == CHILDREN_HOSPITAL
                 and b.kind is EncounterKind.OUTPATIENT and b.month == "2025-12")
    autumn = sum(b.count for b in plan.batches if b.institution_code == CHILDREN_HOSPITAL
                 and b.kind is EncounterKind.OUTPATIENT and b.month == "2025-09")
    assert winter > autumn * 1.2


@pytest.mark.parametrize("scale", SCALES)
def test_baoding_admissions_outside_baoding_fall_by_60_percent(scale: float) -> None:
    plan = plan_history(scale)
    before = baoding_admissions(plan, *PARTNERSHIP_BASELINE, outside=True)
    after = baoding_admissions(plan, "2025-01", "2025-12", outside=True)
    home_before = baoding_admissions(plan, *PARTNERSHIP_BASELINE, outside=False)
    home_after = baoding_admissions(plan, "2025-01", "2025-12", outside=False)

    assert drop(before, after) == 60
    assert plan.outflow == (before, after)
    # … and so does the share of them treated away from home
    assert after / (after + home_after) < before / (before + home_before)
    # BDTCM takes in, in the same departments, the patients who no longer leave
    bdtcm = [totals(plan, TCM_PARTNER, *PARTNERSHIP_BASELINE),
             totals(plan, TCM_PARTNER, "2025-01", "2025-12")]
    assert bdtcm[1][EncounterKind.INPATIENT] - bdtcm[0][EncounterKind.INPATIENT] == (
        before - after)
    # each destination department falls by 60 % too (a specialty filter sees the same drop)
    for flow in demo_plan.OUTFLOWS:
        counts = [sum(b.count for b in plan.batches if b.institution_code == flow.institution_code
                      and b.department_code == flow.department_code and first <= b.month <= last)
                  for first, last in (PARTNERSHIP_BASELINE, ("2025-01", "2025-12"))]
        assert drop(*counts) == 60, flow


def test_the_outflow_moves_month_by_month_between_baseline_and_best_year() -> None:
    plan = plan_history(1.0)
    by_year = [baoding_admissions(plan, f"{year}-01", f"{year}-12", outside=True)
               for year in (2022, 2023, 2024, 2025)]

    assert by_year == sorted(by_year, reverse=True) and len(set(by_year)) == 4
    months = {b.month for b in plan.batches if b.institution_code == "GAMH"}
    assert len(months) == 12 + 33 + 12  # baseline, 2022-04 … 2024-12, 2025


def test_apportion_shares_a_total_out_in_whole_numbers() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(7, [0.5, 0.25, 0.25]) == [3, 2, 2]  # 3.5, 1.75, 1.75: .75s first
    assert sum(apportion(629_464, [1.15, 0.95, 1.2, 0.9])) == 629_464


def test_a_baseline_is_found_even_where_the_scaled_count_cannot_give_the_ratio() -> None:
    # 65 surgeries: 65/19 = 3.42, 65/18 = 3.61; the nearest count that gives 3.46 is taken
    period, baseline = fit_baseline(65, Decimal("3.46"))

    assert volume_ratio(period, 12, baseline, 12) == Decimal("3.46")
    assert abs(period - 65) <= 20
    assert fit_baseline(6_496, Decimal("3.46"))[0] == 6_496
