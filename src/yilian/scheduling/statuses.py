"""Appointment.status as FHIR R4 defines it, with every allowed change in one table.

A booked patient who checks in has *arrived* (waiting, with a queue number); called into
the room the appointment is *checked-in* (the encounter may begin); seen, it is
*fulfilled*. Any change not in :data:`TRANSITIONS` is refused with 409. Every change is
appended to the appointment's history.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.db import utcnow
from yilian.errors import Conflict
from yilian.scheduling.models import Appointment, AppointmentStatus, AppointmentStatusChange

S = AppointmentStatus
TRANSITIONS: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    S.PROPOSED: frozenset({S.PENDING, S.BOOKED, S.CANCELLED, S.ENTERED_IN_ERROR}),
    S.PENDING: frozenset({S.BOOKED, S.CANCELLED, S.ENTERED_IN_ERROR}),
    S.WAITLIST: frozenset({S.BOOKED, S.CANCELLED, S.ENTERED_IN_ERROR}),
    S.BOOKED: frozenset({S.ARRIVED, S.CANCELLED, S.NOSHOW, S.ENTERED_IN_ERROR}),
    S.ARRIVED: frozenset({S.CHECKED_IN, S.FULFILLED, S.NOSHOW, S.ENTERED_IN_ERROR}),
    S.CHECKED_IN: frozenset({S.FULFILLED, S.ENTERED_IN_ERROR}),
    S.FULFILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.NOSHOW: frozenset(),
    S.ENTERED_IN_ERROR: frozenset(),
}
# Statuses in which an appointment holds its slot (and counts against the patient's limits).
HOLDING_SLOT = frozenset({S.PROPOSED, S.PENDING, S.BOOKED, S.ARRIVED, S.CHECKED_IN})
# Statuses that give the slot back.
RELEASING_SLOT = frozenset({S.CANCELLED, S.ENTERED_IN_ERROR})


def is_allowed(current: AppointmentStatus, wanted: AppointmentStatus) -> bool:
    """Whether FHIR's appointment life allows going from ``current`` to ``wanted``."""
    return wanted in TRANSITIONS[current]


def change(
    session: Session, *, appointment: Appointment, to: AppointmentStatus, note: str = ""
) -> Appointment:
    """Move the appointment to a new status (409 when not allowed), history appended."""
    current = appointment.status
    if not is_allowed(current, to):
        raise Conflict(
            "illegal_appointment_transition",
            f"预约状态不能从“{current.value}”变为“{to.value}”",
            f"An appointment cannot go from {current.value} to {to.value}",
        )
    appointment.status = to
    appointment.history.append(
        AppointmentStatusChange(
            from_status=current, to_status=to, changed_at=utcnow(),
            actor=audit.context_of(session).actor[:64], note=note[:200],
        )
    )
    return appointment


def begin(session: Session, *, appointment: Appointment, note: str = "") -> Appointment:
    """Record the first status of a new appointment in its history."""
    appointment.history.append(
        AppointmentStatusChange(
            from_status=None, to_status=appointment.status, changed_at=utcnow(),
            actor=audit.context_of(session).actor[:64], note=note[:200],
        )
    )
    return appointment
