"""A small network for scheduling tests: PKU People's in Beijing, its Huailai campus, a
Beijing cardiologist stationed there with a Tuesday-morning clinic, and three patients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tests.factories import (
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.config import Settings
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Institution,
    InstitutionGrade,
    Practitioner,
    PractitionerRoleKind,
    PractitionerTitle,
)
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import ClinicSession, HalfDay, StationingMode, StationingRole

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = 1


def next_weekday(weekday: int, *, after: date) -> date:
    """The first such weekday strictly after ``after``."""
    return after + timedelta(days=(weekday - after.weekday() - 1) % 7 + 1)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Beijing clock time as an aware UTC moment."""
    return datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class World:
    """The network and people a scheduling test acts on."""

    beijing: Institution
    huailai: Institution
    cardiology: Department
    expert: Practitioner
    local_director: Practitioner
    clinic: ClinicSession
    tuesday: date
    song: Principal  # the patient's own account
    song_id_number: str
    others: list[int]  # two more patients' person ids
    doctor: Principal  # a Huailai clinician
    admin: Principal  # the Huailai campus administrator
    outsider: Principal  # a clinician of an unrelated hospital


def build(session: Session, settings: Settings) -> World:
    """The world, committed; slots generated for the next 21 days."""
    beijing = make_institution(session, code="PKUPH", region_code="110102", level=3)
    huailai = make_institution(session, code="PKUPH-HL", parent_code="PKUPH", level=2,
                               grade=InstitutionGrade.A)
    elsewhere = make_institution(session, code="OTHER")
    make_department(session, beijing)
    cardiology = make_department(session, huailai)
    expert = registry.create_practitioner(session, data=PractitionerCreate(
        code="PKUPH-ZHANG", name="张建", sex="male", title=PractitionerTitle.CHIEF_PHYSICIAN,
        specialty="cardiology", institution_code="PKUPH", department_code="CARD"))
    director = registry.create_practitioner(session, data=PractitionerCreate(
        code="HL-LI", name="李红", sex="female",
        title=PractitionerTitle.ASSOCIATE_CHIEF_PHYSICIAN, specialty="cardiology",
        institution_code="PKUPH-HL", department_code="CARD"))
    registry.create_role(session, data=PractitionerRoleCreate(
        practitioner_code="HL-LI", institution_code="PKUPH-HL", department_code="CARD",
        role=PractitionerRoleKind.DEPARTMENT_DIRECTOR, start_date=date(2015, 1, 1)))
    today = datetime.now(SHANGHAI).date()
    scheduling.create_stationing(
        session, principal=None, practitioner_code="PKUPH-ZHANG", institution_code="PKUPH-HL",
        department_code="CARD", mode=StationingMode.PERIODIC,
        role=StationingRole.EXECUTIVE_DIRECTOR, start_date=today - timedelta(days=30))
    clinic = scheduling.create_session(session, principal=None, plan=scheduling.SessionPlan(
        practitioner_id=expert.id, department_id=cardiology.id, weekday=TUESDAY,
        half_day=HalfDay.MORNING, start=time(8, 0), slot_minutes=15, slot_count=20,
        valid_from=today))
    scheduling.generate(session, today=today, horizon_days=21)
    song_id = resident_id_number("130730", date(1962, 3, 14), 24, male=False)
    song = register(session, settings, huailai, "HL-0001", name="宋桂兰", sex="female",
                    birth_date="1962-03-14", id_number=song_id).person
    others = [
        register(session, settings, huailai, f"HL-000{n}", name=name, sex="male",
                 birth_date=f"197{n}-05-0{n}",
                 id_number=resident_id_number("130730", date(1970 + n, 5, n), 30 + n,
                                              male=True)).person.id
        for n, name in ((2, "王大山"), (3, "赵小川"))
    ]
    patient_user = make_user(session, role=Role.PATIENT, institution=huailai)
    patient_user.person_id = song.id
    doctor = make_user(session, role=Role.CLINICIAN, institution=huailai)
    admin = make_user(session, role=Role.HOSPITAL_ADMIN, institution=huailai)
    outsider = make_user(session, role=Role.CLINICIAN, institution=elsewhere)
    session.commit()
    return World(
        beijing=beijing, huailai=huailai, cardiology=cardiology, expert=expert,
        local_director=director, clinic=clinic, tuesday=next_weekday(TUESDAY, after=today),
        song=users.principal_for(session, user=patient_user), song_id_number=song_id,
        others=others, doctor=users.principal_for(session, user=doctor),
        admin=users.principal_for(session, user=admin),
        outsider=users.principal_for(session, user=outsider),
    )
