"""Demo scheduling: the registry's postings described as stationings, trainees followed,
weekly expert clinics at the Huailai campus and the Baoding hospitals for the coming weeks,
and some of their slots booked (Song among the patients).

Everything goes through the services; slots are generated in one bulk insert. Choices are
deterministic (sorted rows, a seeded ``random.Random``); dates follow today.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.auth import service as users
from yilian.config import Settings
from yilian.demo.patients import song
from yilian.errors import Conflict
from yilian.patients.models import PatientRecord
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.scheduling import booking, slots, stationing
from yilian.scheduling.models import (
    BookingSource,
    ClinicSession,
    HalfDay,
    Slot,
    SlotStatus,
    StationingMode,
    StationingRole,
)

SEED = 2026
HUAILAI = "PKUPH-HL"
CLINIC_INSTITUTIONS = ("PKUPH-HL", "BCH-BD", "BDTCM", "BDFCH", "BDSH-KQ")
# The visiting Beijing expert of the seeds' promise: a Tuesday-morning cardiology clinic.
VISITING_DEPARTMENT = "CARD"
TUESDAY = 1
# What each registry posting is, as a stationing.
DESCRIBED_AS: dict[PractitionerRoleKind, tuple[StationingRole, StationingMode]] = {
    PractitionerRoleKind.EXECUTIVE_DIRECTOR: (StationingRole.EXECUTIVE_DIRECTOR,
                                              StationingMode.RESIDENT),
    PractitionerRoleKind.STATIONED_EXPERT: (StationingRole.ATTENDING, StationingMode.RESIDENT),
    PractitionerRoleKind.VISITING_EXPERT: (StationingRole.VISITING, StationingMode.PERIODIC),
    PractitionerRoleKind.REMOTE_CONSULTANT: (StationingRole.ATTENDING, StationingMode.REMOTE),
}
BOOKED_SHARE = 0.3  # of the first week's slots


@dataclass
class DemoSchedule:
    """What the demo created."""

    stationings: int = 0
    traineeships: int = 0
    clinics: int = 0
    slots: int = 0
    appointments: int = 0
    registry_roles: int = 0  # practitioner roles the demo added to the registry


def create(session: Session, settings: Settings) -> DemoSchedule:
    """Stationings, trainees, weekly clinics, slots and bookings of the demo network."""
    made = DemoSchedule()
    today = slots.local_today(settings.scheduling_timezone)
    roles = list(session.scalars(
        select(PractitionerRole).where(PractitionerRole.role.in_(
            [*DESCRIBED_AS, PractitionerRoleKind.TRAINEE])).order_by(PractitionerRole.id)))
    for role in roles:
        if role.role is PractitionerRoleKind.TRAINEE:
            stationing.attach_traineeship(session, practitioner_role=role, today=today)
            made.traineeships += 1
        else:
            kind, mode = DESCRIBED_AS[role.role]
            stationing.attach_stationing(session, practitioner_role=role, mode=mode, role=kind)
            made.stationings += 1
    visiting = _station_visiting_cardiologist(session)
    made.stationings += 1
    made.registry_roles += 1
    clinics = [_visiting_clinic(session, visiting, today)]
    clinics += _weekly_clinics(session, roles, today)
    made.clinics = len(clinics)
    made.slots = slots.generate(session, today=today, horizon_days=settings.scheduling_horizon_days,
                                zone=settings.scheduling_timezone, clinic_sessions=clinics)
    made.appointments = _book_some(session, settings, clinics)
    return made


def _station_visiting_cardiologist(session: Session) -> Practitioner:
    """A PKU People's cardiologist holding a weekly clinic at the Huailai campus."""
    chief = session.scalars(
        select(Practitioner).join(Department, Department.id == Practitioner.department_id)
        .where(Department.code == VISITING_DEPARTMENT,
               Practitioner.institution_id == _id(session, "PKUPH"),
               Practitioner.title == PractitionerTitle.CHIEF_PHYSICIAN)
        .order_by(Practitioner.id)
    ).first()
    if chief is None:
        raise ValueError("the demo needs a chief cardiologist at PKUPH")
    stationing.create_stationing(
        session, principal=None, practitioner_code=chief.code, institution_code=HUAILAI,
        department_code=VISITING_DEPARTMENT, mode=StationingMode.PERIODIC,
        role=StationingRole.VISITING, start_date=date(2022, 7, 5))
    return chief


def _id(session: Session, code: str) -> int:
    return registry.institution_by_code_or_raise(session, code=code).id


def _visiting_clinic(session: Session, expert: Practitioner, today: date) -> ClinicSession:
    department = registry.department_by_code_or_raise(
        session, institution_id=_id(session, HUAILAI), code=VISITING_DEPARTMENT)
    return slots.create_session(session, principal=None, plan=slots.SessionPlan(
        practitioner_id=expert.id, department_id=department.id, weekday=TUESDAY,
        half_day=HalfDay.MORNING, start=time(8, 0), slot_minutes=15, slot_count=20,
        valid_from=today))


def _weekly_clinics(
    session: Session, roles: list[PractitionerRole], today: date
) -> list[ClinicSession]:
    """One weekly half-day per expert in post on site at the clinic institutions."""
    wanted = {_id(session, code) for code in CLINIC_INSTITUTIONS}
    made = []
    on_site = [
        role for role in roles
        if role.institution_id in wanted and role.department_id is not None
        and role.role in (PractitionerRoleKind.EXECUTIVE_DIRECTOR,
                          PractitionerRoleKind.STATIONED_EXPERT,
                          PractitionerRoleKind.VISITING_EXPERT)
        and role.start_date <= today and (role.end_date is None or role.end_date >= today)
    ]
    for index, role in enumerate(on_site):
        afternoon = index % 2 == 1
        assert role.department_id is not None
        made.append(slots.create_session(session, principal=None, plan=slots.SessionPlan(
            practitioner_id=role.practitioner_id, department_id=role.department_id,
            weekday=index % 5, half_day=HalfDay.AFTERNOON if afternoon else HalfDay.MORNING,
            start=time(14, 0) if afternoon else time(8, 30), slot_minutes=20, slot_count=10,
            valid_from=today)))
    return made


def _book_some(session: Session, settings: Settings, clinics: list[ClinicSession]) -> int:
    """Book a share of the first week's slots for Huailai patients; Song sees a neurologist."""
    admin = users.get_by_username(session, username="admin")
    if admin is None:
        return 0
    principal = users.principal_for(session, user=admin)
    rng = random.Random(SEED)  # noqa: S311  (demo choices, not secrets)
    hl_clinics = {c.id for c in clinics if c.institution_id == _id(session, HUAILAI)}
    people = list(dict.fromkeys(session.scalars(
        select(PatientRecord.person_id).where(
            PatientRecord.institution_id == _id(session, HUAILAI))
        .order_by(PatientRecord.id).limit(400))))
    demo_song = song(session)
    first_week = list(session.scalars(
        select(Slot).where(Slot.clinic_session_id.in_(hl_clinics), Slot.status == SlotStatus.FREE)
        .order_by(Slot.start_at, Slot.id)))
    week_end = first_week[0].session_date.toordinal() + 7 if first_week else 0
    candidates = [slot for slot in first_week if slot.session_date.toordinal() < week_end]
    chosen = sorted(rng.sample(candidates, int(len(candidates) * BOOKED_SHARE)),
                    key=lambda slot: (slot.start_at, slot.id))
    sources = list(BookingSource)
    booked = 0
    specialty = {
        practitioner.id: practitioner.specialty
        for practitioner in session.scalars(select(Practitioner).where(
            Practitioner.id.in_({c.practitioner_id for c in clinics})))
    }
    if demo_song is not None:
        neurology = next((slot for slot in candidates if slot not in chosen
                          and slot.session_date.weekday() != TUESDAY
                          and specialty.get(slot.practitioner_id) == "neurology"), None)
        if neurology is not None:
            booking.book(session, principal=principal, slot_id=neurology.id,
                         person_id=demo_song.id, source=BookingSource.ONLINE, settings=settings)
            booked += 1
    for slot, person_id in zip(chosen, people, strict=False):
        if demo_song is not None and person_id == demo_song.id:
            continue
        try:
            booking.book(session, principal=principal, slot_id=slot.id, person_id=person_id,
                         source=rng.choice(sources), settings=settings)
        except Conflict:  # a linked person with two records: one booking a day is enough
            continue
        booked += 1
    return booked
