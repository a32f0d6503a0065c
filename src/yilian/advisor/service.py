"""The where-to-go advisor: for a patient and a need, rank the places they could go.

Each candidate is measured on four factors — the out-of-pocket cost the settlement engine
estimates on the patient's own coverage and filing (医保发〔2022〕22号: the treatment place's
catalogue, the insured place's policy), the wait for the earliest free slot with a suitable
expert, the results the patient holds that the place must recognise (国卫医发〔2022〕6号), and
the distance from home — scored 0 … 1 among the candidates and weighted as the user chooses.
A green-channel emergency is different: it goes to the nearest certified centre, whatever
the cost. The cheapest, the soonest and the nearest option are always in the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from yilian.advisor import candidates, factors
from yilian.advisor.candidates import Home, Place
from yilian.advisor.schemas import (
    BillLineRead,
    BillSource,
    CareKind,
    CostRead,
    Factor,
    FactorRead,
    OptionRead,
    RankMode,
    RankRead,
    RankRequest,
    SlotRead,
)
from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.errors import NotFound, YilianError
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.referrals.models import Urgency
from yilian.registry import service as registry
from yilian.registry.models import Institution
from yilian.results import service as results
from yilian.settlement import engine
from yilian.settlement import service as settlements
from yilian.settlement.catalogue import find_catalogue

VISIT_FEE_CODE = "110200001"  # 普通门诊诊查费, priced at the treatment place's catalogue limit
ZERO = Decimal("0.00")
CHINA = ZoneInfo("Asia/Shanghai")
Value = TypeVar("Value", Decimal, datetime, float)  # a factor's raw value
FACTOR_NAMES = {
    Factor.COST: ("个人负担", "out-of-pocket"),
    Factor.WAIT: ("等待", "wait"),
    Factor.RESULTS: ("可互认结果", "recognised results"),
    Factor.DISTANCE: ("路程", "distance"),
}


@dataclass
class Estimate:
    """A candidate's estimated slip, on which bill, or why there is none."""

    slip: engine.Slip | None
    source: BillSource | None = None
    lines: tuple[engine.BillLine, ...] = ()
    bills: int = 0
    problem: tuple[str, str] = ("", "")


@dataclass
class Measured:
    """A candidate with every factor measured."""

    place: Place
    estimate: Estimate
    recognisable: int
    distance_km: float | None
    wait_hours: float | None
    scores: dict[Factor, float] = field(default_factory=dict)
    total: float = 0.0

    @property
    def out_of_pocket(self) -> Decimal | None:
        slip = self.estimate.slip
        return slip.psn_part_amt if slip is not None else None


# ---------------------------------------------------------------- the patient


def patient_for(session: Session, principal: Principal, *, data: RankRequest) -> Person:
    """The patient asked about, if the principal may see them (404 otherwise); audited."""
    if principal.role is Role.PATIENT:
        person = (patients.current_person(session, person_id=data.person_id)
                  if data.person_id is not None else None)
        if person is None or person.id != principal.person_id:
            raise NotFound("患者", "Patient", data.person_id or data.patient_record_id)
        return person
    if data.patient_record_id is not None:
        record = patients.get_record_or_raise(session, principal,
                                              record_id=data.patient_record_id)
        person_id = record.person_id
    else:
        assert data.person_id is not None
        person_id = data.person_id
    found = patients.get_person_or_raise(session, principal, person_id=person_id,
                                         purpose="advisor.patient.read")
    return patients.current_person(session, person_id=found.id) or found


# ---------------------------------------------------------------- the factors


@dataclass(frozen=True)
class BillBasis:
    """The bill a candidate's cost is estimated on, and where it comes from."""

    lines: tuple[engine.BillLine, ...]
    source: BillSource
    bills: int = 0  # the settled bills a typical bill is the median of


def bill_for(session: Session, *, institution: Institution, data: RankRequest,
             rules: settlements.Rulebook,
             cache: dict[int | None, settlements.TypicalBill | None]) -> BillBasis | tuple[
                 str, str]:
    """The request's planned bill; for a clinic visit the visit fee at the place's catalogue
    price; for an admission the diagnosis group's typical settled bill (this institution's,
    else its level's, else the network's). Why there is none otherwise (zh, en)."""
    if data.lines:
        return BillBasis(tuple(engine.BillLine(line.code, line.qty, line.unit_price)
                               for line in data.lines), BillSource.PLANNED)
    if data.kind is CareKind.OUTPATIENT:
        try:
            catalogue = find_catalogue(rules.catalogues, treatment_region=institution.region_code)
        except YilianError as missing:
            return missing.zh, missing.en
        item = catalogue.items.get(VISIT_FEE_CODE)
        if item is None or item.price_limit is None:
            return "就医地目录无门诊诊查费", "the place's catalogue has no visit fee"
        return BillBasis((engine.BillLine(VISIT_FEE_CODE, Decimal(1), item.price_limit),),
                         BillSource.VISIT_FEE)
    group = data.diagnosis_group
    if group is None:
        return ("估算住院费用需要诊断或拟结算费用",
                "an admission's cost needs a diagnosis or a planned bill")
    typical = settlements.typical_bill(session, institution_ids=[institution.id],
                                       diagnosis_group=group)
    source = BillSource.INSTITUTION
    if typical is None:
        typical, source = _typical_elsewhere(session, level=institution.level, group=group,
                                             cache=cache)
    if typical is None:
        return (f"无 {group} 病种的已结算账单，请填写拟结算费用",
                f"no settled bill of group {group} to go by; give a planned bill")
    return BillBasis(typical.lines, source, typical.bills)


def _estimate(session: Session, *, person: Person, institution: Institution, data: RankRequest,
              on: date, rules: settlements.Rulebook,
              cache: dict[int | None, settlements.TypicalBill | None]) -> Estimate:
    """The settlement engine's estimate of the candidate's bill on the patient's coverage
    (an emergency counts as filed)."""
    basis = bill_for(session, institution=institution, data=data, rules=rules, cache=cache)
    if not isinstance(basis, BillBasis):
        return Estimate(None, problem=basis)
    filing = data.filing or (engine.Filing.EMERGENCY if data.urgency is Urgency.EMERGENCY
                             else None)
    try:
        slip = settlements.estimate(session, person_id=person.id, institution_id=institution.id,
                                    lines=basis.lines, filing=filing, on_date=on, rules=rules)
    except YilianError as refused:
        return Estimate(None, basis.source, basis.lines, basis.bills, (refused.zh, refused.en))
    return Estimate(slip, basis.source, basis.lines, basis.bills)


def _typical_elsewhere(
    session: Session, *, level: int, group: str,
    cache: dict[int | None, settlements.TypicalBill | None],
) -> tuple[settlements.TypicalBill | None, BillSource]:
    """The group's typical bill at institutions of this level, else in the whole network
    (``cache`` keeps each by level, None for the network, for the other candidates)."""
    for key, source in ((level, BillSource.LEVEL), (None, BillSource.NETWORK)):
        if key not in cache:
            peers, _ = registry.list_institutions(
                session, where=registry.InstitutionFilter(level=key),
                limit=candidates.POOL_LIMIT * 10)
            cache[key] = settlements.typical_bill(
                session, institution_ids=[peer.id for peer in peers], diagnosis_group=group)
        if cache[key] is not None:
            return cache[key], source
    return None, BillSource.NETWORK


def _distance(home: Home, institution: Institution) -> float | None:
    region = institution.region
    if home.latitude is None or home.longitude is None:
        return None
    if region is None or region.latitude is None or region.longitude is None:
        return None
    return round(factors.great_circle_km(home.latitude, home.longitude,
                                         region.latitude, region.longitude), 1)


def _wait_hours(place: Place, now: datetime) -> float | None:
    if place.slot is None:
        return None
    return max((place.slot.start_at - now).total_seconds() / 3600, 0.0)


# ---------------------------------------------------------------- ranking


def _score(measured: list[Measured]) -> None:
    costs = factors.lower_is_better([None if m.out_of_pocket is None else float(m.out_of_pocket)
                                     for m in measured])
    waits = factors.lower_is_better([m.wait_hours for m in measured])
    held = factors.higher_is_better([float(m.recognisable) for m in measured])
    distances = factors.lower_is_better([m.distance_km for m in measured])
    for index, item in enumerate(measured):
        item.scores = {Factor.COST: costs[index], Factor.WAIT: waits[index],
                       Factor.RESULTS: held[index], Factor.DISTANCE: distances[index]}


def _order(measured: list[Measured], *, mode: RankMode,
           shares: dict[Factor, float]) -> list[Measured]:
    if mode is RankMode.NEAREST_CENTRE:
        # Green channel: the nearest certified centre first; never by cost.
        return sorted(measured, key=lambda m: (m.distance_km is None, m.distance_km or 0.0,
                                               -m.place.institution.level,
                                               m.place.institution.code))
    for item in measured:
        item.total = factors.weighted_total(
            {name.value: score for name, score in item.scores.items()},
            {name.value: share for name, share in shares.items()})
    return sorted(measured, key=lambda m: (
        -round(m.total, 9), m.out_of_pocket is None, m.out_of_pocket or ZERO,
        m.distance_km is None, m.distance_km or 0.0, m.place.institution.code))


def _best(measured: Sequence[Measured], value: Callable[[Measured], Value | None]) -> set[int]:
    """Institution ids of the candidates with the least known value of a factor."""
    known = [(found, m.place.institution.id) for m in measured
             if (found := value(m)) is not None]
    if not known:
        return set()
    least = min(found for found, _ in known)
    return {institution_id for found, institution_id in known if found == least}


def rank(session: Session, settings: Settings, principal: Principal, *, data: RankRequest,
         now: datetime) -> RankRead:
    """Rank the places the patient could go for the need, every factor explained; audited."""
    authorize(principal, Action.ADVISOR_RANK)
    person = patient_for(session, principal, data=data)
    if data.specialty is not None:
        candidates.check_specialty(session, data.specialty)
    home = candidates.home_of(session, person)
    on = now.astimezone(CHINA).date()
    mode = (RankMode.NEAREST_CENTRE
            if data.urgency is Urgency.EMERGENCY and data.green_channel is not None
            else RankMode.WEIGHTED)
    places = _places(session, data=data, home=home, on=on, now=now, mode=mode)
    places = [p for p in places if p.institution.id not in set(data.exclude_institution_ids)]
    _name_experts(session, places)
    rules = settlements.rulebook(settings)
    counts = results.recognisable_counts(
        session, person_id=person.id,
        ordering_institution_ids=[p.institution.id for p in places], at=now)
    typical_bills: dict[int | None, settlements.TypicalBill | None] = {}
    measured = [
        Measured(place, _estimate(session, person=person, institution=place.institution,
                                  data=data, on=on, rules=rules, cache=typical_bills),
                 counts.get(place.institution.id, 0), _distance(home, place.institution),
                 _wait_hours(place, now))
        for place in places
    ]
    shares = _shares(data, mode)
    _score(measured)
    ordered = _order(measured, mode=mode, shares=shares)
    cheapest = _best(ordered, lambda m: m.out_of_pocket)
    soonest = _best(ordered, lambda m: m.place.slot.start_at if m.place.slot else None)
    nearest = _best(ordered, lambda m: m.distance_km)
    shown = _shown(ordered, limit=data.limit, always=cheapest | soonest | nearest)
    least = min((m.out_of_pocket for m in ordered if m.out_of_pocket is not None), default=None)
    options = [_option(m, rank=ordered.index(m) + 1, shares=shares, least=least,
                       cheapest=cheapest, soonest=soonest, nearest=nearest, mode=mode)
               for m in shown]
    audit.record(session, action="advisor.rank", entity_type="person", entity_id=str(person.id),
                 institution_id=principal.institution_id, patient_id=person.id,
                 detail={"specialty": data.specialty, "practitioner_id": data.practitioner_id,
                         "kind": data.kind.value, "urgency": data.urgency.value,
                         "shown": [o.institution_id for o in options]})
    zh, en = _overall(data, mode=mode, shares=shares, home=home, measured=ordered)
    return RankRead(
        person_id=person.id, mode=mode, kind=data.kind, urgency=data.urgency,
        specialty=data.specialty, practitioner_id=data.practitioner_id,
        green_channel=data.green_channel, diagnosis_group=data.diagnosis_group,
        home_region_code=home.region_code, home_region_name=home.region_name,
        weights=data.weights, options=options,
        cheapest_institution_id=_first_of(ordered, cheapest),
        soonest_institution_id=_first_of(ordered, soonest),
        nearest_institution_id=_first_of(ordered, nearest),
        explanation_zh=zh, explanation_en=en,
    )


def _places(session: Session, *, data: RankRequest, home: Home, on: date, now: datetime,
            mode: RankMode) -> list[Place]:
    if mode is RankMode.NEAREST_CENTRE:
        assert data.green_channel is not None
        return candidates.for_green_channel(session, centre=data.green_channel,
                                            specialty=data.specialty)
    if data.practitioner_id is not None:
        return candidates.for_expert(session, practitioner_id=data.practitioner_id, after=now)
    pool = candidates.pool_near(session, home=home, on=on)
    if data.specialty is None:  # a green channel without an emergency: its centres
        assert data.green_channel is not None
        return [p for p in candidates.for_green_channel(session, centre=data.green_channel,
                                                        specialty=None)
                if p.institution.id in pool]
    places = candidates.for_specialty(session, specialty=data.specialty, pool=pool, after=now)
    if data.green_channel is not None:
        places = [p for p in places if data.green_channel in p.institution.centre_kinds]
    return places


def _name_experts(session: Session, places: Sequence[Place]) -> None:
    for place in places:
        if place.slot is not None:
            place.expert_name = registry.get_practitioner_or_raise(
                session, practitioner_id=place.slot.practitioner_id).name


def _shares(data: RankRequest, mode: RankMode) -> dict[Factor, float]:
    if mode is RankMode.NEAREST_CENTRE:
        return {Factor.COST: 0.0, Factor.WAIT: 0.0, Factor.RESULTS: 0.0, Factor.DISTANCE: 1.0}
    named = factors.shares({factor.value: data.weights.of(factor) for factor in Factor})
    return {Factor(name): share for name, share in named.items()}


def _shown(ordered: list[Measured], *, limit: int, always: set[int]) -> list[Measured]:
    """The first ``limit`` candidates, and the cheapest, soonest and nearest after them."""
    top = ordered[:limit]
    return top + [m for m in ordered[limit:] if m.place.institution.id in always]


def _first_of(ordered: Sequence[Measured], ids: set[int]) -> int | None:
    return next((m.place.institution.id for m in ordered if m.place.institution.id in ids), None)


# ---------------------------------------------------------------- the answer


def _money(amount: Decimal) -> str:
    return f"¥{amount:,.2f}"


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def _factor_rows(m: Measured, shares: dict[Factor, float]) -> list[FactorRead]:
    slip, problem = m.estimate.slip, m.estimate.problem
    rows = {
        Factor.COST: (format(slip.psn_part_amt, "f") if slip else "",
                      f"个人负担 {_money(slip.psn_part_amt)}" if slip else
                      f"费用未知：{problem[0]}",
                      f"out-of-pocket {_money(slip.psn_part_amt)}" if slip else
                      f"cost unknown: {problem[1]}"),
        Factor.WAIT: (f"{m.wait_hours:.1f}" if m.wait_hours is not None else "",
                      f"最早号源 {_local(m.place.slot.start_at)}" if m.place.slot else
                      "暂无可预约号源",
                      f"earliest slot {_local(m.place.slot.start_at)}" if m.place.slot else
                      "no free slot published"),
        Factor.RESULTS: (str(m.recognisable), f"{m.recognisable} 项已有结果可互认",
                         f"{m.recognisable} results held are recognised here"),
        Factor.DISTANCE: (f"{m.distance_km:.1f}" if m.distance_km is not None else "",
                          f"距家约 {m.distance_km:.0f} 公里" if m.distance_km is not None
                          else "距离未知",
                          f"about {m.distance_km:.0f} km from home"
                          if m.distance_km is not None else "distance unknown"),
    }
    return [FactorRead(factor=factor, raw=raw, score=round(m.scores[factor], 4),
                       weight=round(shares[factor], 4),
                       contribution=round(m.scores[factor] * shares[factor], 4),
                       note_zh=zh, note_en=en)
            for factor, (raw, zh, en) in rows.items()]


def _cost(m: Measured, least: Decimal | None) -> CostRead | None:
    slip, estimate = m.estimate.slip, m.estimate
    if slip is None or estimate.source is None:
        return None
    return CostRead(
        bill_source=estimate.source, bill_settlements=estimate.bills,
        medfee_sumamt=slip.medfee_sumamt, fulamt_ownpay_amt=slip.fulamt_ownpay_amt,
        overlmt_selfpay=slip.overlmt_selfpay, preselfpay_amt=slip.preselfpay_amt,
        act_pay_dedc=slip.act_pay_dedc, hifp_pay=slip.hifp_pay, hifmi_pay=slip.hifmi_pay,
        maf_pay=slip.maf_pay, fund_pay_sumamt=slip.fund_pay_sumamt,
        psn_part_amt=slip.psn_part_amt, psn_cash_pay=slip.psn_cash_pay,
        difference_to_cheapest=slip.psn_part_amt - (least if least is not None else ZERO),
        filing=slip.filing, out_of_region=slip.out_of_region,
        policy_version=slip.policy_version, catalogue_version=slip.catalogue_version,
        lines=[BillLineRead(code=line.code, qty=line.qty, unit_price=line.unit_price)
               for line in estimate.lines],
    )


def _option(m: Measured, *, rank: int, shares: dict[Factor, float], least: Decimal | None,
            cheapest: set[int], soonest: set[int], nearest: set[int],
            mode: RankMode) -> OptionRead:
    institution, department, slot = m.place.institution, m.place.department, m.place.slot
    cost = _cost(m, least)
    flags_zh = [text for flag, text in ((institution.id in cheapest, "最便宜"),
                                        (institution.id in soonest, "最快"),
                                        (institution.id in nearest, "最近")) if flag]
    flags_en = [text for flag, text in ((institution.id in cheapest, "cheapest"),
                                        (institution.id in soonest, "soonest"),
                                        (institution.id in nearest, "nearest")) if flag]
    rows = _factor_rows(m, shares)
    zh = "；".join(row.note_zh for row in rows)
    en = "; ".join(row.note_en for row in rows)
    if cost is not None and cost.difference_to_cheapest > 0:
        zh += f"；比最便宜的选择多付 {_money(cost.difference_to_cheapest)}"
        en += f"; {_money(cost.difference_to_cheapest)} more than the cheapest option"
    if flags_zh:
        zh = f"【{'、'.join(flags_zh)}】{zh}"
        en = f"[{', '.join(flags_en)}] {en}"
    return OptionRead(
        rank=rank, institution_id=institution.id, institution_code=institution.code,
        institution_name=institution.name, institution_name_en=institution.name_en,
        level=institution.level, grade=institution.grade.value,
        region_code=institution.region_code, centres=institution.centre_kinds,
        department_id=department.id if department else None,
        department_name=department.name if department else "",
        department_name_en=department.name_en if department else "",
        cost=cost,
        earliest_slot=None if slot is None else SlotRead(
            slot_id=slot.id, start_at=slot.start_at, practitioner_id=slot.practitioner_id,
            practitioner_name=m.place.expert_name, department_id=slot.department_id,
            clinic_institution_id=slot.clinic_session.institution_id),
        recognisable_results=m.recognisable, distance_km=m.distance_km, factors=rows,
        total_score=round(m.total if mode is RankMode.WEIGHTED else m.scores[Factor.DISTANCE], 4),
        cheapest=institution.id in cheapest, soonest=institution.id in soonest,
        nearest=institution.id in nearest, explanation_zh=zh, explanation_en=en,
    )


def _overall(data: RankRequest, *, mode: RankMode, shares: dict[Factor, float], home: Home,
             measured: Sequence[Measured]) -> tuple[str, str]:
    """What the whole answer means, in Chinese and English."""
    policy = next((m.estimate.slip.policy_version for m in measured if m.estimate.slip), "")
    if mode is RankMode.NEAREST_CENTRE:
        centre = data.green_channel.value if data.green_channel else ""
        return (
            f"急诊绿色通道（{CENTRE_ZH.get(centre, centre)}）：按距离排序，直接送往最近的"
            "具备该中心资质的医院，不按费用排序；费用仅供参考，急诊抢救视同已备案。",
            f"Green-channel emergency ({centre.replace('_', ' ')}): ordered by distance only — "
            "the nearest certified centre first, never by cost; costs are shown for "
            "information, and emergency care counts as filed.",
        )
    weights_zh = "、".join(f"{FACTOR_NAMES[f][0]} {shares[f]:.0%}" for f in Factor)
    weights_en = ", ".join(f"{FACTOR_NAMES[f][1]} {shares[f]:.0%}" for f in Factor)
    home_zh = f"（家：{home.region_name}）" if home.region_name else ""
    return (
        f"按加权得分排序：{weights_zh}{home_zh}。每项得分在候选机构间按 0–1 计（1 为最好）。"
        f"费用由医保结算引擎按患者本人参保与备案状态估算（{policy}）；"
        "最便宜、最快和最近的选择始终列出。",
        f"Ordered by weighted score: {weights_en}. Each factor scores 0–1 among the "
        f"candidates (1 = best). Costs are the settlement engine's estimate on the patient's "
        f"own coverage and filing ({policy}); the cheapest, soonest and nearest options are "
        "always listed.",
    )


CENTRE_ZH = {"chest_pain": "胸痛中心", "stroke": "卒中中心", "trauma": "创伤中心",
             "maternal": "危重孕产妇救治中心", "neonatal": "危重新生儿救治中心"}
