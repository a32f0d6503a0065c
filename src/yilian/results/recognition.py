"""The rules of mutual recognition 检查检验结果互认, each a small pure function.

From 国卫医发〔2022〕6号 (in force 2022-03-01): lab data and exam images/data are recognised,
the physician's diagnostic conclusion is not; the performing institution must hold a valid
quality-evaluated qualification (the "HR" mark, with a scope) for the item when the result
was produced; the region sets each item's validity window. :func:`judge` applies them to one
held result in a fixed order, so a doctor is told the first reason that refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from yilian.results.models import HrScope, Refusal, ReportStatus

# Days are counted on the network's local calendar (Beijing time, UTC+8).
BEIJING = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class HeldQualification:
    """An HR mark as the rules see it."""

    institution_id: int
    item_code: str  # empty: every item of the group
    item_group: str
    scope: HrScope
    valid_from: date
    valid_to: date


@dataclass(frozen=True)
class Place:
    """Where an institution is, for scope rules: its GB/T 2260 region code and consortia."""

    institution_id: int
    region_code: str
    consortium_ids: frozenset[int]  # consortium agreements it is a party to (and its family)


@dataclass(frozen=True)
class Verdict:
    """Whether a held result is recognisable for the ordering institution, and why not."""

    refusal: Refusal | None
    age_days: int
    validity_days: int
    qualification: HeldQualification | None = None

    @property
    def recognisable(self) -> bool:
        """True when nothing refuses the result."""
        return self.refusal is None


def local_day(instant: datetime) -> date:
    """The calendar day in Beijing of an instant."""
    return instant.astimezone(BEIJING).date()


def age_in_days(*, performed_at: datetime, at: datetime) -> int:
    """Whole calendar days from the day a result was performed to the day asked about."""
    return (local_day(at) - local_day(performed_at)).days


def validity_expired(*, performed_at: datetime, at: datetime, validity_days: int) -> bool:
    """A result is valid for ``validity_days`` days after the day it was performed."""
    return age_in_days(performed_at=performed_at, at=at) > validity_days


def qualification_covers_item(
    qualification: HeldQualification, *, item_code: str, item_group: str
) -> bool:
    """A mark for the item itself, or for its whole group."""
    if qualification.item_code:
        return qualification.item_code == item_code
    return bool(item_group) and qualification.item_group == item_group


def performer_qualified_at(
    qualifications: Iterable[HeldQualification],
    *,
    institution_id: int,
    item_code: str,
    item_group: str,
    performed_on: date,
) -> HeldQualification | None:
    """The performer's mark for the item valid on the day it was performed (widest first)."""
    valid = [
        q for q in qualifications
        if q.institution_id == institution_id
        and qualification_covers_item(q, item_code=item_code, item_group=item_group)
        and q.valid_from <= performed_on <= q.valid_to
    ]
    valid.sort(key=lambda q: SCOPE_ORDER.index(q.scope))
    return valid[0] if valid else None


SCOPE_ORDER = (HrScope.NATIONAL, HrScope.PROVINCE, HrScope.CITY, HrScope.CONSORTIUM)


def same_province(first: str, second: str) -> bool:
    """GB/T 2260: the first two digits name the province."""
    return first[:2] == second[:2]


def same_city(first: str, second: str) -> bool:
    """GB/T 2260: the first four digits name the prefecture-level city."""
    return first[:4] == second[:4]


def scope_covers(*, scope: HrScope, performer: Place, ordering: Place) -> bool:
    """Whether an HR mark of this scope reaches the ordering institution.

    全国 covers every institution; 本省 the same province; 市 the same city; 医联体 the
    institutions sharing a consortium with the performer. The performer itself is always
    covered.
    """
    if performer.institution_id == ordering.institution_id or scope is HrScope.NATIONAL:
        return True
    if scope is HrScope.PROVINCE:
        return same_province(performer.region_code, ordering.region_code)
    if scope is HrScope.CITY:
        return same_city(performer.region_code, ordering.region_code)
    return bool(performer.consortium_ids & ordering.consortium_ids)


def scope_allowed_for_item(scope: HrScope, item_scopes: frozenset[HrScope]) -> bool:
    """The region's catalogue names the scopes an item may be recognised in."""
    return scope in item_scopes


def has_recognisable_content(*, values: int, images: int) -> bool:
    """Only data and images are recognised: a report carrying nothing but the physician's
    conclusion is not (国卫医发〔2022〕6号)."""
    return values > 0 or images > 0


def judge(
    *,
    status: ReportStatus,
    superseded: bool,
    has_content: bool,
    performed_at: datetime,
    at: datetime,
    validity_days: int,
    qualification: HeldQualification | None,
    item_scopes: frozenset[HrScope],
    performer: Place,
    ordering: Place,
) -> Verdict:
    """Apply the rules in order: superseded, not final, conclusion only, expired, not
    qualified, scope."""
    age = age_in_days(performed_at=performed_at, at=at)

    def verdict(refusal: Refusal | None) -> Verdict:
        return Verdict(refusal, age, validity_days, qualification)

    if superseded:
        return verdict(Refusal.SUPERSEDED)
    if status is ReportStatus.ENTERED_IN_ERROR:
        return verdict(Refusal.NOT_FINAL)
    if not has_content:
        return verdict(Refusal.CONCLUSION_ONLY)
    if validity_expired(performed_at=performed_at, at=at, validity_days=validity_days):
        return verdict(Refusal.EXPIRED)
    if qualification is None:
        return verdict(Refusal.NOT_QUALIFIED)
    if not scope_allowed_for_item(qualification.scope, item_scopes) or not scope_covers(
        scope=qualification.scope, performer=performer, ordering=ordering
    ):
        return verdict(Refusal.SCOPE)
    return verdict(None)
