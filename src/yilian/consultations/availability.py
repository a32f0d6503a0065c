"""When the assigned experts are free: not holding a clinic of theirs (from the scheduling
capability), not absent, and not in another consultation's session. An MDT is scheduled
only at a time every one of its experts is free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.consultations.models import Consultation, ConsultationExpert
from yilian.consultations.states import HOLDS_TIME
from yilian.scheduling import service as scheduling


@dataclass(frozen=True)
class Busy:
    """A time an expert is taken, and by what (for the coordinator's message)."""

    practitioner_id: int
    start: datetime
    end: datetime
    what_zh: str
    what_en: str


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Two half-open intervals [start, end) share a moment."""
    return a_start < b_end and b_start < a_end


def busy_times(session: Session, *, practitioner_id: int, start: datetime, end: datetime,
               zone: str, except_consultation_id: int | None = None) -> list[Busy]:
    """Everything that takes the expert's time between start and end."""
    taken = [Busy(practitioner_id, opens, closes, "门诊", "a clinic session")
             for opens, closes, _ in scheduling.clinic_hours(
                 session, practitioner_id=practitioner_id, start=start, end=end, zone=zone)]
    local = ZoneInfo(zone)
    for day in scheduling.absent_days(session, practitioner_id=practitioner_id,
                                      first=start.astimezone(local).date(),
                                      last=end.astimezone(local).date()):
        opens = datetime.combine(day, time(0), tzinfo=local)
        taken.append(Busy(practitioner_id, opens, opens + timedelta(days=1), "停诊", "absent"))
    statement = (
        select(Consultation)
        .join(ConsultationExpert, ConsultationExpert.consultation_id == Consultation.id)
        .where(ConsultationExpert.practitioner_id == practitioner_id,
               Consultation.status.in_(HOLDS_TIME),
               Consultation.starts_at < end, Consultation.ends_at > start)
    )
    if except_consultation_id is not None:
        statement = statement.where(Consultation.id != except_consultation_id)
    for other in session.scalars(statement):
        if other.starts_at is not None and other.ends_at is not None:
            taken.append(Busy(practitioner_id, other.starts_at, other.ends_at,
                              f"会诊 #{other.id}", f"consultation #{other.id}"))
    return [b for b in taken if overlaps(b.start, b.end, start, end)]


def clashes(session: Session, *, practitioner_ids: list[int], start: datetime, end: datetime,
            zone: str, except_consultation_id: int | None = None) -> list[Busy]:
    """What keeps any of the experts from a session at [start, end)."""
    return [busy for pid in practitioner_ids
            for busy in busy_times(session, practitioner_id=pid, start=start, end=end,
                                   zone=zone, except_consultation_id=except_consultation_id)]


def free_starts(session: Session, *, practitioner_ids: list[int], after: datetime,
                minutes: int, zone: str, days: int = 14, count: int = 8,
                except_consultation_id: int | None = None,
                day_opens: time = time(8), day_closes: time = time(18)) -> list[datetime]:
    """The first working-day start times (Monday to Friday, on the half hour, local time)
    at which every expert is free for ``minutes``: what the coordinator is offered."""
    local = ZoneInfo(zone)
    horizon = after + timedelta(days=days)
    taken = clashes(session, practitioner_ids=practitioner_ids, start=after, end=horizon,
                    zone=zone, except_consultation_id=except_consultation_id)
    length = timedelta(minutes=minutes)
    found: list[datetime] = []
    day = after.astimezone(local).date()
    while len(found) < count and day <= horizon.astimezone(local).date():
        moment = datetime.combine(day, day_opens, tzinfo=local)
        closes = datetime.combine(day, day_closes, tzinfo=local)
        while day.weekday() < 5 and moment + length <= closes and len(found) < count:
            if moment > after and not any(overlaps(b.start, b.end, moment, moment + length)
                                           for b in taken):
                found.append(moment)
            moment += timedelta(minutes=30)
        day += timedelta(days=1)
    return found
