"""Stationed experts 派驻 and trainees 进修, built on the registry's practitioner roles.

The registry already says who holds which role where and when (``PractitionerRole`` with
``executive_director``, ``stationed_expert``, ``visiting_expert``, ``remote_consultant``
and ``trainee``). A stationing adds the mode and role of the posting to one such role; a
traineeship adds the trainee's progress. Creating either creates the registry role through
the registry service, so the registry's pages and FHIR PractitionerRole show it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import distinct, func, or_, select
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, authorize
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.registry import service as registry
from yilian.registry.models import (
    Department,
    Practitioner,
    PractitionerRole,
    PractitionerRoleKind,
)
from yilian.registry.schemas import PractitionerRoleCreate
from yilian.scheduling.models import (
    Slot,
    SlotStatus,
    Stationing,
    StationingMode,
    StationingRole,
    Traineeship,
    TraineeStatus,
)

# The registry role a stationing is recorded as.
REGISTRY_ROLE: dict[tuple[StationingRole, StationingMode], PractitionerRoleKind] = {
    **{(StationingRole.EXECUTIVE_DIRECTOR, mode): PractitionerRoleKind.EXECUTIVE_DIRECTOR
       for mode in StationingMode},
    (StationingRole.ATTENDING, StationingMode.RESIDENT): PractitionerRoleKind.STATIONED_EXPERT,
    (StationingRole.ATTENDING, StationingMode.PERIODIC): PractitionerRoleKind.STATIONED_EXPERT,
    (StationingRole.ATTENDING, StationingMode.REMOTE): PractitionerRoleKind.REMOTE_CONSULTANT,
    (StationingRole.VISITING, StationingMode.RESIDENT): PractitionerRoleKind.VISITING_EXPERT,
    (StationingRole.VISITING, StationingMode.PERIODIC): PractitionerRoleKind.VISITING_EXPERT,
    (StationingRole.VISITING, StationingMode.REMOTE): PractitionerRoleKind.REMOTE_CONSULTANT,
}
STATIONING_KINDS = frozenset(REGISTRY_ROLE.values())


@dataclass(frozen=True)
class StationedExpert:
    """A stationing as the roster shows it."""

    stationing: Stationing
    role: PractitionerRole
    days_on_site: int

    @property
    def practitioner(self) -> Practitioner:
        """The expert."""
        return self.role.practitioner


def days_on_site(
    *, mode: StationingMode, start: date, end: date | None, today: date, clinic_days: int
) -> int:
    """Days the expert has been on site: every day of a resident posting so far, the clinic
    days held for a periodic one, none for a remote one."""
    if mode is StationingMode.REMOTE or start > today:
        return 0
    if mode is StationingMode.PERIODIC:
        return clinic_days
    last = min(end, today) if end is not None else today
    return (last - start).days + 1


def _clinic_days(session: Session, *, role: PractitionerRole, today: date) -> int:
    """Distinct past days the expert held a clinic (a slot not called off) in the department."""
    statement = select(func.count(distinct(Slot.session_date))).where(
        Slot.practitioner_id == role.practitioner_id,
        Slot.session_date >= role.start_date,
        Slot.session_date <= (min(role.end_date, today) if role.end_date else today),
        Slot.status != SlotStatus.BUSY_UNAVAILABLE,
    )
    if role.department_id is not None:
        statement = statement.where(Slot.department_id == role.department_id)
    return int(session.scalar(statement) or 0)


def create_stationing(
    session: Session,
    *,
    principal: Principal | None,
    practitioner_code: str,
    institution_code: str,
    department_code: str,
    mode: StationingMode,
    role: StationingRole,
    start_date: date,
    end_date: date | None = None,
) -> Stationing:
    """Station an expert of another institution in a partner department (and its role)."""
    institution = registry.institution_by_code_or_raise(session, code=institution_code)
    if principal is not None:
        authorize(principal, Action.STATIONING_WRITE, [institution.id])
    expert = registry.practitioner_by_code_or_raise(session, code=practitioner_code)
    if expert.institution_id == institution.id:
        raise InvalidInput(
            "stationing_at_home",
            "派驻专家须来自其他机构", "A stationed expert comes from another institution",
        )
    registry_role = registry.create_role(
        session,
        data=PractitionerRoleCreate(
            practitioner_code=practitioner_code, institution_code=institution_code,
            department_code=department_code, role=REGISTRY_ROLE[(role, mode)],
            start_date=start_date, end_date=end_date,
        ),
    )
    return attach_stationing(session, practitioner_role=registry_role, mode=mode, role=role)


def attach_stationing(
    session: Session,
    *,
    practitioner_role: PractitionerRole,
    mode: StationingMode,
    role: StationingRole,
) -> Stationing:
    """Describe an existing registry role as a stationing (its mode and role)."""
    if practitioner_role.role not in STATIONING_KINDS:
        raise InvalidInput("not_a_stationing", "该执业角色不是派驻", "This role is not a posting")
    stationing = Stationing(practitioner_role_id=practitioner_role.id, mode=mode, role=role)
    session.add(stationing)
    session.flush()
    return stationing


def list_stationed(
    session: Session, *, institution_id: int, today: date, active_only: bool = True
) -> list[StationedExpert]:
    """The experts stationed at an institution, by department then name, days counted."""
    statement = (
        select(Stationing, PractitionerRole)
        .join(PractitionerRole, PractitionerRole.id == Stationing.practitioner_role_id)
        .join(Practitioner, Practitioner.id == PractitionerRole.practitioner_id)
        .outerjoin(Department, Department.id == PractitionerRole.department_id)
        .where(PractitionerRole.institution_id == institution_id)
        .order_by(Department.code, Practitioner.name, Stationing.id)
    )
    if active_only:
        statement = statement.where(
            PractitionerRole.start_date <= today,
            or_(PractitionerRole.end_date.is_(None), PractitionerRole.end_date >= today),
        )
    rows = session.execute(statement).all()
    return [
        StationedExpert(
            stationing=stationing,
            role=role,
            days_on_site=days_on_site(
                mode=stationing.mode, start=role.start_date, end=role.end_date, today=today,
                clinic_days=(
                    _clinic_days(session, role=role, today=today)
                    if stationing.mode is StationingMode.PERIODIC else 0
                ),
            ),
        )
        for stationing, role in rows
    ]


@dataclass(frozen=True)
class DepartmentDirectors:
    """双主任制: a partner department's own director beside the executive director."""

    department: Department
    local_directors: list[Practitioner]
    executive_directors: list[Practitioner]


def department_directors(
    session: Session, *, institution_id: int, today: date
) -> list[DepartmentDirectors]:
    """Each department of the institution with its director(s) and executive director(s)."""
    roles = registry.list_roles(session, institution_id=institution_id, active_on=today)
    by_department: dict[int, DepartmentDirectors] = {}
    for role in roles:
        if role.department_id is None or role.department is None:
            continue
        if role.role not in (PractitionerRoleKind.DEPARTMENT_DIRECTOR,
                             PractitionerRoleKind.EXECUTIVE_DIRECTOR):
            continue
        entry = by_department.setdefault(
            role.department_id, DepartmentDirectors(role.department, [], [])
        )
        if role.role is PractitionerRoleKind.EXECUTIVE_DIRECTOR:
            entry.executive_directors.append(role.practitioner)
        else:
            entry.local_directors.append(role.practitioner)
    return sorted(by_department.values(), key=lambda entry: entry.department.code)


# ---------------------------------------------------------------- trainees 进修


@dataclass(frozen=True)
class Trainee:
    """A traineeship as the list shows it."""

    traineeship: Traineeship
    role: PractitionerRole


def trainee_status_on(*, start: date, end: date | None, today: date) -> TraineeStatus:
    """Where a traineeship stands by its dates alone (before completion is recorded)."""
    if today < start:
        return TraineeStatus.PLANNED
    return TraineeStatus.IN_TRAINING


def create_traineeship(
    session: Session,
    *,
    principal: Principal | None,
    practitioner_code: str,
    institution_code: str,
    department_code: str,
    start_date: date,
    end_date: date,
    today: date,
) -> Traineeship:
    """Place a partner hospital's practitioner in a lead-hospital department for a period."""
    institution = registry.institution_by_code_or_raise(session, code=institution_code)
    if principal is not None:
        authorize(principal, Action.STATIONING_WRITE, [institution.id])
    role = registry.create_role(
        session,
        data=PractitionerRoleCreate(
            practitioner_code=practitioner_code, institution_code=institution_code,
            department_code=department_code, role=PractitionerRoleKind.TRAINEE,
            start_date=start_date, end_date=end_date,
        ),
    )
    return attach_traineeship(session, practitioner_role=role, today=today)


def attach_traineeship(
    session: Session, *, practitioner_role: PractitionerRole, today: date
) -> Traineeship:
    """Follow an existing registry trainee role as a traineeship."""
    if practitioner_role.role is not PractitionerRoleKind.TRAINEE:
        raise InvalidInput("not_a_trainee", "该执业角色不是进修", "This role is not a traineeship")
    traineeship = Traineeship(
        practitioner_role_id=practitioner_role.id,
        status=trainee_status_on(
            start=practitioner_role.start_date, end=practitioner_role.end_date, today=today
        ),
    )
    session.add(traineeship)
    session.flush()
    return traineeship


def list_trainees(
    session: Session, *, institution_ids: Sequence[int] | None, status: TraineeStatus | None = None
) -> list[Trainee]:
    """Trainees placed at these institutions (all when None), latest start first."""
    statement = (
        select(Traineeship, PractitionerRole)
        .join(PractitionerRole, PractitionerRole.id == Traineeship.practitioner_role_id)
        .order_by(PractitionerRole.start_date.desc(), Traineeship.id)
    )
    if institution_ids is not None:
        statement = statement.where(PractitionerRole.institution_id.in_(institution_ids))
    if status is not None:
        statement = statement.where(Traineeship.status == status)
    return [Trainee(t, r) for t, r in session.execute(statement).all()]


# A traineeship moves forward only; completion and withdrawal are final.
TRAINEE_TRANSITIONS: dict[TraineeStatus, frozenset[TraineeStatus]] = {
    TraineeStatus.PLANNED: frozenset({TraineeStatus.IN_TRAINING, TraineeStatus.WITHDRAWN}),
    TraineeStatus.IN_TRAINING: frozenset({TraineeStatus.COMPLETED, TraineeStatus.WITHDRAWN}),
    TraineeStatus.COMPLETED: frozenset(),
    TraineeStatus.WITHDRAWN: frozenset(),
}


def set_trainee_status(
    session: Session,
    *,
    principal: Principal | None,
    traineeship_id: int,
    status: TraineeStatus,
    today: date,
    assessment: str = "",
) -> Traineeship:
    """Start, complete (结业, with an assessment) or withdraw a traineeship; 409 otherwise."""
    traineeship = session.get(Traineeship, traineeship_id)
    if traineeship is None:
        raise NotFound("进修记录", "Traineeship", traineeship_id)
    role = registry.get_role_or_raise(session, role_id=traineeship.practitioner_role_id)
    if principal is not None:
        authorize(principal, Action.STATIONING_WRITE, [role.institution_id])
    if status not in TRAINEE_TRANSITIONS[traineeship.status]:
        raise Conflict(
            "illegal_trainee_transition",
            f"进修状态不能从 {traineeship.status.value} 变为 {status.value}",
            f"A traineeship cannot go from {traineeship.status.value} to {status.value}",
        )
    traineeship.status = status
    if status is TraineeStatus.COMPLETED:
        traineeship.completed_on = today
        traineeship.assessment = assessment[:200]
    session.flush()
    return traineeship
