"""Rebuilding ``metric_month`` from the other capabilities' rows (``yilian analytics refresh``).

Each source has its own small function that reads the few columns it needs and adds its
counts to one accumulator; the whole table is then replaced in the refresh's transaction,
so a reader sees the old counts or the new ones, never half of each. No person id leaves
these functions: the aggregate holds institutions, months, categories and counts only.

Counting rules (the definitions in ``metrics`` repeat them for readers):
- a referral counts in the Beijing month it was submitted (drafts never submitted do not);
- its response time is submission to the receiving side's answer, in whole minutes;
- green-channel intervals (door-to-balloon, door-to-needle) count in the month of the door
  time, once both clock times are recorded;
- a consultation counts in the month it was requested; a reported one ended either in a
  referral up (``follow_up_referral_id`` set) or stayed local (consultations.counts);
- a visiting-expert clinic appointment is one at an institution other than the expert's
  home institution, counted in the month of the clinic day;
- expert days on site follow scheduling.stationing.days_on_site: every day of a resident
  posting, each clinic day of a periodic one, none for a remote one;
- tests avoided and money saved come from the recognition savings ledger (results);
- settlement totals count a settlement in its settled month and take it back in the month
  it was reversed (the clearing rule of settlement.clearing).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from yilian.analytics.aggregates import beijing_month
from yilian.analytics.models import MetricCode, MetricMonth
from yilian.consultations.counts import REPORTED
from yilian.consultations.models import Consultation
from yilian.db import utcnow
from yilian.referrals import rules as referral_rules
from yilian.referrals.models import ClockPoint, Referral, ReferralClock, TaskStatus
from yilian.referrals.states import AWAITING_ANSWER
from yilian.registry.models import Department, EmergencyCentre, Practitioner, PractitionerRole
from yilian.results import service as results
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Slot,
    SlotStatus,
    Stationing,
    StationingMode,
)
from yilian.settlement.models import Settlement

# (metric, month, institution, counterpart, category, specialty, bucket) -> [count, amount]
Bucket = tuple[MetricCode, str, int, int, str, str, int]
Accumulator = dict[Bucket, list[int | Decimal]]

MINUTES_CAP = 7 * 24 * 60  # a response slower than a week counts as a week (median only)
ATTENDED = (AppointmentStatus.ARRIVED, AppointmentStatus.CHECKED_IN,
            AppointmentStatus.FULFILLED)
NOT_BOOKED = (AppointmentStatus.ENTERED_IN_ERROR, AppointmentStatus.PROPOSED,
              AppointmentStatus.WAITLIST)
# The fund columns of the settlement slip (国家医保接口 2207) the commission reads.
FUNDS = ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "acct_pay",
         "psn_cash_pay")


def _add(found: Accumulator, bucket: Bucket, count: int = 1,
         amount: Decimal = Decimal(0)) -> None:
    row = found.setdefault(bucket, [0, Decimal(0)])
    row[0] += count
    row[1] += amount


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from ``start`` to ``end`` (never negative), capped at a week."""
    return max(0, min(MINUTES_CAP, int((end - start).total_seconds() // 60)))


def deadline_category(status: TaskStatus, due: datetime, responded: datetime | None,
                      now: datetime) -> str:
    """How a referral stands against its response deadline: ``on_time``, ``late`` (answered
    after it), ``overdue`` (unanswered past it, referrals.rules.is_overdue) or ``open``."""
    if responded is not None:
        return "on_time" if responded <= due else "late"
    if referral_rules.is_overdue(status, due, now):
        return "overdue"
    return "open" if status in AWAITING_ANSWER else "closed"


def _specialties(session: Session) -> dict[int, str]:
    return {int(i): str(s) for i, s in session.execute(select(Department.id, Department.specialty))}


def add_referrals(session: Session, found: Accumulator, *, now: datetime) -> None:
    """Referrals by direction, response minutes, deadline standing, green-channel times."""
    specialty = _specialties(session)
    rows = session.execute(select(
        Referral.id, Referral.referring_institution_id, Referral.target_institution_id,
        Referral.target_department_id, Referral.direction, Referral.urgency, Referral.status,
        Referral.green_channel, Referral.requested_at, Referral.responded_at,
        Referral.response_due_at).where(Referral.requested_at.is_not(None))).all()
    green: dict[int, tuple[int, int, EmergencyCentre]] = {}
    for (referral_id, origin, target, department, direction, urgency, status, centre,
         requested, responded, due) in rows:
        if requested is None:  # excluded by the query; narrows the type
            continue
        month = beijing_month(requested)
        field = specialty.get(department, "") if department else ""
        _add(found, (MetricCode.REFERRAL, month, origin, target, direction.value, field, 0))
        if responded is not None:
            _add(found, (MetricCode.REFERRAL_RESPONSE, month, target, origin, urgency.value,
                         field, minutes_between(requested, responded)))
        if due is not None:
            _add(found, (MetricCode.REFERRAL_DEADLINE, month, target, origin,
                         deadline_category(status, due, responded, now), field, 0))
        if centre is not None:
            green[referral_id] = (target, origin, centre)
    times: dict[int, dict[ClockPoint, datetime]] = defaultdict(dict)
    if green:
        for referral_id, point, at in session.execute(select(
                ReferralClock.referral_id, ReferralClock.point, ReferralClock.at)):
            if referral_id in green:
                times[referral_id][point] = at
    for referral_id, (target, origin, centre) in green.items():
        for result in referral_rules.clock_results(centre, times[referral_id]):
            if result.minutes is None:
                continue
            door = times[referral_id][result.target.start]
            _add(found, (MetricCode.GREEN_CHANNEL, beijing_month(door), target, origin,
                         result.target.name, "", max(0, result.minutes)))


def add_consultations(session: Session, found: Accumulator) -> None:
    """Consultations by kind, and of the reported ones whether they stayed local."""
    for (requested, origin, target, kind, field, status, referral) in session.execute(select(
            Consultation.requested_at, Consultation.requesting_institution_id,
            Consultation.target_institution_id, Consultation.kind,
            Consultation.target_specialty, Consultation.status,
            Consultation.follow_up_referral_id)):
        month = beijing_month(requested)
        _add(found, (MetricCode.CONSULTATION, month, origin, target, kind.value, field, 0))
        if status in REPORTED:
            outcome = "referred_up" if referral is not None else "kept_local"
            _add(found, (MetricCode.CONSULTATION_OUTCOME, month, origin, target, outcome,
                         field, 0))


def clinic_category(status: AppointmentStatus) -> str:
    """An appointment's standing: attended, noshow, cancelled or open (day still to come)."""
    if status in ATTENDED:
        return "attended"
    if status is AppointmentStatus.NOSHOW:
        return "noshow"
    if status is AppointmentStatus.CANCELLED:
        return "cancelled"
    return "open"


def add_clinics(session: Session, found: Accumulator) -> None:
    """Visiting-expert clinic appointments (the expert's home is another institution)."""
    specialty = _specialties(session)
    rows = session.execute(
        select(Appointment.institution_id, Practitioner.institution_id,
               Appointment.department_id, Appointment.session_date, Appointment.status)
        .join(Practitioner, Practitioner.id == Appointment.practitioner_id)
        .where(Practitioner.institution_id != Appointment.institution_id,
               Appointment.status.not_in(NOT_BOOKED)))
    for institution, home, department, day, status in rows:
        _add(found, (MetricCode.CLINIC, f"{day:%Y-%m}", institution, home or 0,
                     clinic_category(status), specialty.get(department, ""), 0))


def _days_by_month(first: date, last: date) -> dict[str, int]:
    days: dict[str, int] = defaultdict(int)
    day = first
    while day <= last:
        days[f"{day:%Y-%m}"] += 1
        day += timedelta(days=1)
    return days


def add_expert_days(session: Session, found: Accumulator, *, today: date) -> None:
    """Days stationed experts spent on site, per month of the posting."""
    specialty = _specialties(session)
    postings = session.execute(
        select(Stationing.mode, PractitionerRole.practitioner_id,
               PractitionerRole.institution_id, PractitionerRole.department_id,
               PractitionerRole.start_date, PractitionerRole.end_date, Practitioner.institution_id)
        .join(PractitionerRole, PractitionerRole.id == Stationing.practitioner_role_id)
        .join(Practitioner, Practitioner.id == PractitionerRole.practitioner_id)).all()
    for mode, practitioner, institution, department, start, end, home in postings:
        last = min(end, today) if end is not None else today
        if mode is StationingMode.REMOTE or start > last:
            continue
        field = specialty.get(department, "") if department else ""
        if mode is StationingMode.RESIDENT:
            days = _days_by_month(start, last)
        else:
            clinic_days = select(Slot.session_date).distinct().where(
                Slot.practitioner_id == practitioner, Slot.session_date >= start,
                Slot.session_date <= last, Slot.status != SlotStatus.BUSY_UNAVAILABLE)
            if department is not None:
                clinic_days = clinic_days.where(Slot.department_id == department)
            days = defaultdict(int)
            for day in session.scalars(clinic_days):
                days[f"{day:%Y-%m}"] += 1
        for month, count in days.items():
            _add(found, (MetricCode.EXPERT_DAYS, month, institution, home or 0, mode.value,
                         field, 0), count)


def add_tests_avoided(session: Session, found: Accumulator) -> None:
    """Tests not repeated because a recognised result was accepted, and their price."""
    for total in results.savings_totals(session):
        _add(found, (MetricCode.TESTS_AVOIDED, total.month, total.institution_id, 0,
                     total.item_code, "", 0), total.tests_avoided, total.amount)


def add_settlements(session: Session, found: Accumulator) -> None:
    """Cross-region settlements by fund: settled month adds, reversal month takes back."""
    columns = [getattr(Settlement, fund) for fund in FUNDS]
    for institution, settled, reversed_month, *amounts in session.execute(select(
            Settlement.institution_id, Settlement.settled_month, Settlement.reversed_month,
            *columns)):
        for fund, amount in zip(FUNDS, amounts, strict=True):
            _add(found, (MetricCode.SETTLEMENT, settled, institution, 0, fund, "", 0), 1,
                 Decimal(amount))
            if reversed_month:
                _add(found, (MetricCode.SETTLEMENT, reversed_month, institution, 0, fund, "",
                             0), -1, -Decimal(amount))


def refresh_metrics(session: Session, *, now: datetime | None = None) -> int:
    """Rebuild ``metric_month`` from every source; the number of buckets."""
    moment = now or utcnow()
    found: Accumulator = {}
    add_referrals(session, found, now=moment)
    add_consultations(session, found)
    add_clinics(session, found)
    add_expert_days(session, found, today=(moment + timedelta(hours=8)).date())
    add_tests_avoided(session, found)
    add_settlements(session, found)
    session.execute(delete(MetricMonth))
    rows = [{"metric": b[0], "month": b[1], "institution_id": b[2], "counterpart_key": b[3],
             "category": b[4], "specialty": b[5], "bucket": b[6], "count": int(v[0]),
             "amount": Decimal(v[1]).quantize(Decimal("0.01"))}
            for b, v in found.items() if v[0] or v[1]]
    for start in range(0, len(rows), 5000):
        session.execute(insert(MetricMonth), rows[start:start + 5000])
    session.flush()
    return int(session.scalar(select(func.count()).select_from(MetricMonth)) or 0)


__all__ = ["FUNDS", "MINUTES_CAP", "clinic_category", "deadline_category", "minutes_between",
           "refresh_metrics"]
