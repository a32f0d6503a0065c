"""Registry rules: regions, institutions, departments, practitioners, agreements.

No HTTP here. Functions flush, never commit: the request or CLI command owns the
transaction (STYLE.md §6). Lookups by code raise clear bilingual errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.registry.models import (
    Agreement,
    AgreementParty,
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    InstitutionCentre,
    InstitutionGrade,
    InstitutionKind,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.registry.schemas import (
    DepartmentCreate,
    DepartmentUpdate,
    InstitutionCreate,
    InstitutionUpdate,
    PractitionerCreate,
    PractitionerRoleCreate,
    PractitionerUpdate,
    RegionCreate,
)


def apply_changes(
    record: object, changes: dict[str, Any], *, nullable: frozenset[str] = frozenset()
) -> None:
    """Set each changed field; a PATCH may not blank a required one."""
    for field, value in changes.items():
        if value is None and field not in nullable:
            raise InvalidInput("field_required", f"字段不能为空：{field}",
                               f"Field cannot be null: {field}")
    for field, value in changes.items():
        setattr(record, field, value)


# ---------------------------------------------------------------- regions


def region_prefix(code: str) -> str:
    """The code prefix shared by a division and everything inside it (GB/T 2260).

    ``130000`` (Hebei) → ``13``; ``130700`` (Zhangjiakou) → ``1307``; ``130730`` → itself.
    """
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def get_region(session: Session, *, code: str) -> Region | None:
    """The region with this code, if any."""
    return session.get(Region, code)


def get_region_or_raise(session: Session, *, code: str) -> Region:
    """The region with this code, or a clear error."""
    region = get_region(session, code=code)
    if region is None:
        raise InvalidInput("unknown_region", f"行政区划代码不存在：{code}",
                           f"Unknown region code: {code}")
    return region


def list_regions(session: Session, *, parent_code: str | None = None) -> Sequence[Region]:
    """Regions, all or the direct children of one."""
    statement = select(Region).order_by(Region.code)
    if parent_code is not None:
        statement = statement.where(Region.parent_code == parent_code)
    return session.scalars(statement).all()


def create_region(session: Session, *, data: RegionCreate) -> Region:
    """Add a region; its parent must exist and enclose it."""
    if get_region(session, code=data.code) is not None:
        raise Conflict("region_exists", f"行政区划已存在：{data.code}",
                       f"Region already exists: {data.code}")
    if data.parent_code is not None:
        get_region_or_raise(session, code=data.parent_code)
        if not data.code.startswith(region_prefix(data.parent_code)):
            raise InvalidInput(
                "region_outside_parent",
                f"{data.code} 不属于上级区划 {data.parent_code}",
                f"{data.code} does not lie inside parent {data.parent_code}",
            )
    region = Region(**data.model_dump())
    session.add(region)
    session.flush()
    return region


# ---------------------------------------------------------------- institutions


@dataclass(frozen=True)
class InstitutionFilter:
    """Ways to narrow the institution list."""

    region_code: str | None = None  # the region or anything inside it
    level: int | None = None
    grade: InstitutionGrade | None = None
    kind: InstitutionKind | None = None
    centre: EmergencyCentre | None = None
    agreement_type: AgreementType | None = None
    parent_id: int | None = None
    text: str | None = None  # part of the name, English name or code


def _institution_query(where: InstitutionFilter) -> Select[Any]:
    statement = select(Institution)
    if where.region_code:
        statement = statement.where(
            Institution.region_code.startswith(region_prefix(where.region_code))
        )
    if where.level is not None:
        statement = statement.where(Institution.level == where.level)
    if where.grade is not None:
        statement = statement.where(Institution.grade == where.grade)
    if where.kind is not None:
        statement = statement.where(Institution.kind == where.kind)
    if where.parent_id is not None:
        statement = statement.where(Institution.parent_id == where.parent_id)
    if where.centre is not None:
        statement = statement.where(
            exists().where(
                InstitutionCentre.institution_id == Institution.id,
                InstitutionCentre.centre == where.centre,
            )
        )
    if where.agreement_type is not None:
        statement = statement.where(
            exists().where(
                AgreementParty.institution_id == Institution.id,
                AgreementParty.agreement_id == Agreement.id,
                Agreement.type == where.agreement_type,
            )
        )
    if where.text:
        pattern = f"%{where.text.strip()}%"
        statement = statement.where(
            or_(
                Institution.name.ilike(pattern),
                Institution.name_en.ilike(pattern),
                Institution.code.ilike(pattern),
            )
        )
    return statement


def list_institutions(
    session: Session, *, where: InstitutionFilter, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Institution], int]:
    """Institutions matching the filter, highest level first, with the total count."""
    statement = _institution_query(where)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(Institution.level.desc(), Institution.region_code, Institution.code)
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, total


def get_institution(session: Session, *, institution_id: int) -> Institution | None:
    """The institution with this id, if any."""
    return session.get(Institution, institution_id)


def institutions_by_id(session: Session, *, ids: Iterable[int]) -> dict[int, Institution]:
    """The institutions with these ids, by id, in one query (unknown ids are left out)."""
    wanted = set(ids)
    if not wanted:
        return {}
    found = session.scalars(select(Institution).where(Institution.id.in_(wanted)))
    return {institution.id: institution for institution in found}


def get_institution_or_raise(session: Session, *, institution_id: int) -> Institution:
    """The institution with this id, or 404."""
    institution = get_institution(session, institution_id=institution_id)
    if institution is None:
        raise NotFound("机构", "Institution", institution_id)
    return institution


def check_institution_exists(session: Session, *, institution_id: int) -> None:
    """404 unless the institution exists (one indexed lookup, nothing loaded)."""
    if session.scalar(select(Institution.id).where(Institution.id == institution_id)) is None:
        raise NotFound("机构", "Institution", institution_id)


def get_institution_by_code(session: Session, *, code: str) -> Institution | None:
    """The institution with this code, if any."""
    return session.scalars(select(Institution).where(Institution.code == code)).first()


def institution_by_code_or_raise(session: Session, *, code: str) -> Institution:
    """The institution with this code, or a clear 422 (the code came from the caller)."""
    institution = get_institution_by_code(session, code=code)
    if institution is None:
        raise InvalidInput("unknown_institution", f"机构编码不存在：{code}",
                           f"No institution with code {code}")
    return institution


def campuses_of(session: Session, *, institution_id: int) -> Sequence[Institution]:
    """Institutions run as campuses of this one."""
    return session.scalars(
        select(Institution).where(Institution.parent_id == institution_id).order_by(
            Institution.code
        )
    ).all()


def _check_parent(session: Session, *, institution: Institution | None, parent_code: str) -> int:
    parent = institution_by_code_or_raise(session, code=parent_code)
    ancestor: Institution | None = parent
    while ancestor is not None:  # a campus cannot run its own parent
        if institution is not None and ancestor.id == institution.id:
            raise InvalidInput(
                "campus_cycle",
                f"{parent_code} 不能作为上级机构：会形成循环",
                f"{parent_code} cannot be the parent: it would make a cycle",
            )
        ancestor = ancestor.parent
    return parent.id


def _set_centres(institution: Institution, centres: list[EmergencyCentre]) -> None:
    wanted = set(centres)
    institution.centres = [row for row in institution.centres if row.centre in wanted] + [
        InstitutionCentre(centre=centre)
        for centre in sorted(wanted - set(institution.centre_kinds))
    ]


def create_institution(session: Session, *, data: InstitutionCreate) -> Institution:
    """Register a new institution."""
    if get_institution_by_code(session, code=data.code) is not None:
        raise Conflict("institution_exists", f"机构编码已存在：{data.code}",
                       f"Institution code already exists: {data.code}")
    get_region_or_raise(session, code=data.region_code)
    values = data.model_dump(exclude={"parent_code", "centres"})
    institution = Institution(**values)
    if data.parent_code:
        institution.parent_id = _check_parent(session, institution=None,
                                              parent_code=data.parent_code)
    _set_centres(institution, data.centres)
    session.add(institution)
    session.flush()
    return institution


def update_institution(
    session: Session, *, institution: Institution, data: InstitutionUpdate
) -> Institution:
    """Change an institution's registered facts."""
    changes = data.model_dump(exclude_unset=True)
    if "region_code" in changes and changes["region_code"] is not None:
        get_region_or_raise(session, code=changes["region_code"])
    if "parent_code" in changes:
        parent_code = changes.pop("parent_code")
        institution.parent_id = (
            _check_parent(session, institution=institution, parent_code=parent_code)
            if parent_code
            else None
        )
    if "centres" in changes:
        centres = changes.pop("centres")
        _set_centres(institution, list(centres or []))
    apply_changes(institution, changes)
    session.flush()
    return institution


# ---------------------------------------------------------------- departments


def list_departments(session: Session, *, institution_id: int) -> Sequence[Department]:
    """Departments of an institution, by code."""
    return session.scalars(
        select(Department).where(Department.institution_id == institution_id).order_by(
            Department.code
        )
    ).all()


def departments_with_specialty(
    session: Session, *, specialty: str, institution_ids: Iterable[int] | None = None
) -> Sequence[Department]:
    """Departments of this specialty (at these institutions, when given), by institution."""
    statement = select(Department).where(Department.specialty == specialty)
    if institution_ids is not None:
        statement = statement.where(Department.institution_id.in_(sorted(set(institution_ids))))
    return session.scalars(statement.order_by(Department.institution_id, Department.code)).all()


def list_specialties(session: Session) -> list[tuple[str, str, str]]:
    """Every department specialty in the registry with a department name for it (Chinese,
    English), by specialty code."""
    rows = session.execute(
        select(Department.specialty, func.min(Department.name), func.min(Department.name_en))
        .group_by(Department.specialty).order_by(Department.specialty))
    return [(specialty, name, name_en) for specialty, name, name_en in rows]


def get_department_or_raise(session: Session, *, department_id: int) -> Department:
    """The department with this id, or 404."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound("科室", "Department", department_id)
    return department


def department_by_code_or_raise(
    session: Session, *, institution_id: int, code: str
) -> Department:
    """An institution's department by its code, or a clear 422."""
    department = session.scalars(
        select(Department).where(
            Department.institution_id == institution_id, Department.code == code
        )
    ).first()
    if department is None:
        raise InvalidInput("unknown_department", f"该机构没有科室编码：{code}",
                           f"The institution has no department with code {code}")
    return department


def create_department(
    session: Session, *, institution: Institution, data: DepartmentCreate
) -> Department:
    """Add a department to an institution."""
    duplicate = session.scalar(
        select(Department.id).where(
            Department.institution_id == institution.id, Department.code == data.code
        )
    )
    if duplicate is not None:
        raise Conflict("department_exists", f"科室编码已存在：{data.code}",
                       f"Department code already exists: {data.code}")
    department = Department(institution_id=institution.id, **data.model_dump())
    session.add(department)
    session.flush()
    return department


def update_department(
    session: Session, *, department: Department, data: DepartmentUpdate
) -> Department:
    """Change a department."""
    apply_changes(department, data.model_dump(exclude_unset=True))
    session.flush()
    return department


# ---------------------------------------------------------------- practitioners


@dataclass(frozen=True)
class PractitionerFilter:
    """Ways to narrow the practitioner list."""

    institution_id: int | None = None
    department_id: int | None = None
    specialty: str | None = None
    text: str | None = None


def list_practitioners(
    session: Session, *, where: PractitionerFilter, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Practitioner], int]:
    """Practitioners matching the filter, with the total count."""
    statement = select(Practitioner)
    if where.institution_id is not None:
        statement = statement.where(Practitioner.institution_id == where.institution_id)
    if where.department_id is not None:
        statement = statement.where(Practitioner.department_id == where.department_id)
    if where.specialty:
        statement = statement.where(Practitioner.specialty == where.specialty)
    if where.text:
        pattern = f"%{where.text.strip()}%"
        statement = statement.where(
            or_(Practitioner.name.ilike(pattern), Practitioner.code.ilike(pattern))
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(statement.order_by(Practitioner.code).offset(offset).limit(limit))
    return rows.all(), total


def get_practitioner_or_raise(session: Session, *, practitioner_id: int) -> Practitioner:
    """The practitioner with this id, or 404."""
    practitioner = session.get(Practitioner, practitioner_id)
    if practitioner is None:
        raise NotFound("医务人员", "Practitioner", practitioner_id)
    return practitioner


def practitioner_by_code_or_raise(session: Session, *, code: str) -> Practitioner:
    """The practitioner with this code, or a clear 422."""
    practitioner = session.scalars(select(Practitioner).where(Practitioner.code == code)).first()
    if practitioner is None:
        raise InvalidInput("unknown_practitioner", f"医务人员编码不存在：{code}",
                           f"No practitioner with code {code}")
    return practitioner


def create_practitioner(session: Session, *, data: PractitionerCreate) -> Practitioner:
    """Register a practitioner at their home institution."""
    if session.scalar(select(Practitioner.id).where(Practitioner.code == data.code)):
        raise Conflict("practitioner_exists", f"医务人员编码已存在：{data.code}",
                       f"Practitioner code already exists: {data.code}")
    institution = institution_by_code_or_raise(session, code=data.institution_code)
    department_id = None
    if data.department_code:
        department_id = department_by_code_or_raise(
            session, institution_id=institution.id, code=data.department_code
        ).id
    practitioner = Practitioner(
        **data.model_dump(exclude={"institution_code", "department_code"}),
        institution_id=institution.id,
        department_id=department_id,
    )
    session.add(practitioner)
    session.flush()
    return practitioner


def update_practitioner(
    session: Session, *, practitioner: Practitioner, data: PractitionerUpdate
) -> Practitioner:
    """Change a practitioner's title, specialty, department or licence."""
    changes = data.model_dump(exclude_unset=True)
    if "department_code" in changes:
        code = changes.pop("department_code")
        practitioner.department_id = (
            department_by_code_or_raise(
                session, institution_id=practitioner.institution_id, code=code
            ).id
            if code
            else None
        )
    apply_changes(practitioner, changes)
    session.flush()
    return practitioner


def list_roles(
    session: Session,
    *,
    practitioner_id: int | None = None,
    institution_id: int | None = None,
    active_on: date | None = None,
) -> Sequence[PractitionerRole]:
    """Roles held by a practitioner or at an institution, optionally those active on a day."""
    statement = select(PractitionerRole).order_by(PractitionerRole.start_date)
    if practitioner_id is not None:
        statement = statement.where(PractitionerRole.practitioner_id == practitioner_id)
    if institution_id is not None:
        statement = statement.where(PractitionerRole.institution_id == institution_id)
    if active_on is not None:
        statement = statement.where(
            PractitionerRole.start_date <= active_on,
            or_(PractitionerRole.end_date.is_(None), PractitionerRole.end_date >= active_on),
        )
    return session.scalars(statement).all()


def get_role_or_raise(session: Session, *, role_id: int) -> PractitionerRole:
    """The practitioner role with this id, or 404."""
    role = session.get(PractitionerRole, role_id)
    if role is None:
        raise NotFound("执业角色", "Practitioner role", role_id)
    return role


def create_role(session: Session, *, data: PractitionerRoleCreate) -> PractitionerRole:
    """Give a practitioner a role at an institution (their own or another)."""
    practitioner = practitioner_by_code_or_raise(session, code=data.practitioner_code)
    institution = institution_by_code_or_raise(session, code=data.institution_code)
    department_id = None
    if data.department_code:
        department_id = department_by_code_or_raise(
            session, institution_id=institution.id, code=data.department_code
        ).id
    role = PractitionerRole(
        practitioner_id=practitioner.id,
        institution_id=institution.id,
        department_id=department_id,
        role=data.role,
        start_date=data.start_date,
        end_date=data.end_date,
    )
    session.add(role)
    session.flush()
    return role
