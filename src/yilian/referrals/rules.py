"""The referral's domain rules as small pure functions: direction, deadlines, overdue,
green-channel targets and uploaded-file types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from yilian.config import Settings
from yilian.referrals.models import ClockPoint, Direction, TaskStatus, Urgency
from yilian.referrals.states import AWAITING_ANSWER
from yilian.registry.models import EmergencyCentre


@dataclass(frozen=True)
class Place:
    """What direction depends on: an institution's level, its parent campus, and the
    consortium agreements (trusteeship, 医联体) it leads."""

    institution_id: int
    level: int
    parent_id: int | None
    leads: frozenset[int]  # institutions it leads in an active agreement


def derive_direction(origin: Place, target: Place) -> Direction:
    """Up to a higher level, down to a lower one; between equals, toward the lead hospital
    of their trusteeship or consortium (or the parent of a campus) is up, else lateral."""
    if target.level != origin.level:
        return Direction.UP if target.level > origin.level else Direction.DOWN
    if origin.parent_id == target.institution_id or origin.institution_id in target.leads:
        return Direction.UP
    if target.parent_id == origin.institution_id or target.institution_id in origin.leads:
        return Direction.DOWN
    return Direction.LATERAL


def follow_up_share_until(settings: Settings, completed_at: datetime) -> datetime:
    """Until when the receiving institution still sees a discharged patient's records.

    The referral's own share ends at completion; a follow-up window
    (``YILIAN_REFERRAL_FOLLOW_UP_SHARE_DAYS``, 30 days by default) keeps what the discharge
    needs: the down referral back to the county campus, the first follow-up visit and a
    question about an early readmission. Longer care rests on the patient's own consent
    (a share with reason ``consent``), not on the finished referral.
    """
    return completed_at + timedelta(days=settings.referral_follow_up_share_days)


def response_window(settings: Settings, urgency: Urgency) -> timedelta:
    """How long the receiving side has to answer (configurable per urgency)."""
    minutes = {
        Urgency.EMERGENCY: settings.referral_deadline_emergency_minutes,
        Urgency.URGENT: settings.referral_deadline_urgent_minutes,
        Urgency.ROUTINE: settings.referral_deadline_routine_minutes,
    }[urgency]
    return timedelta(minutes=minutes)


def is_overdue(status: TaskStatus, response_due_at: datetime | None, now: datetime) -> bool:
    """Unanswered past its response deadline."""
    return status in AWAITING_ANSWER and response_due_at is not None and now > response_due_at


def centre_accepts(centre: EmergencyCentre | None, centres: Iterable[EmergencyCentre]) -> bool:
    """A green-channel referral goes only to an institution certified for that centre."""
    return centre is None or centre in set(centres)


@dataclass(frozen=True)
class ClockTarget:
    """A green-channel interval and its national target."""

    name: str
    start: ClockPoint
    end: ClockPoint
    limit_minutes: int


# Chest-pain centres: door-to-balloon ≤ 90 min; stroke centres: door-to-needle ≤ 60 min.
CLOCK_TARGETS: Mapping[EmergencyCentre, tuple[ClockTarget, ...]] = {
    EmergencyCentre.CHEST_PAIN: (
        ClockTarget("door_to_balloon", ClockPoint.DOOR, ClockPoint.BALLOON, 90),
    ),
    EmergencyCentre.STROKE: (
        ClockTarget("door_to_needle", ClockPoint.DOOR, ClockPoint.NEEDLE, 60),
    ),
}


@dataclass(frozen=True)
class ClockResult:
    """An interval as measured: minutes (None until both times are known) and target met."""

    target: ClockTarget
    minutes: int | None

    @property
    def met(self) -> bool | None:
        """Whether the interval is within its target (None while incomplete)."""
        return None if self.minutes is None else self.minutes <= self.target.limit_minutes


def clock_results(
    centre: EmergencyCentre | None, times: Mapping[ClockPoint, datetime]
) -> list[ClockResult]:
    """The green channel's intervals (door-to-balloon, door-to-needle) from its clock times."""
    results = []
    for target in CLOCK_TARGETS.get(centre, ()) if centre else ():
        start, end = times.get(target.start), times.get(target.end)
        minutes = None if start is None or end is None else int((end - start).total_seconds() // 60)
        results.append(ClockResult(target, minutes))
    return results


# Magic bytes of the medical-record files a referral accepts.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_document_type(content: bytes) -> str | None:
    """The file's real type by its first bytes (PDF, JPEG, PNG), or None for anything else."""
    for signature, content_type in _SIGNATURES:
        if content.startswith(signature):
            return content_type
    return None
