"""Registry REST API: regions, institutions, departments, practitioners, agreements, CSV.

Every route needs a signed-in user (all roles may read the registry). Writes are declared
with ``RequirePermission`` and scoped to an institution by the load-or-404 dependencies
below, which call :func:`authorize` once the record concerned is known. The rules are in
``registry.service``; this module only maps HTTP onto them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import CurrentPrincipal, DbSession, RequirePermission
from yilian.errors import NotFound
from yilian.registry import agreements, csvio
from yilian.registry import service as registry
from yilian.registry.models import (
    Agreement,
    AgreementStatus,
    AgreementType,
    Department,
    EmergencyCentre,
    Institution,
    InstitutionGrade,
    InstitutionKind,
    Practitioner,
    Region,
)
from yilian.registry.schemas import (
    AgreementCreate,
    AgreementRead,
    AgreementUpdate,
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    InstitutionCreate,
    InstitutionRead,
    InstitutionUpdate,
    PractitionerCreate,
    PractitionerRead,
    PractitionerRoleCreate,
    PractitionerRoleRead,
    PractitionerUpdate,
    RegionCreate,
    RegionRead,
)
from yilian.schemas import LARGEST_KEY, Key, Page

router = APIRouter(
    prefix="/api/v1/registry",
    tags=["registry"],
    dependencies=[RequirePermission(Action.REGISTRY_READ)],
)

Offset = Annotated[int, Query(ge=0, le=LARGEST_KEY, description="Rows to skip")]
Limit = Annotated[int, Query(ge=1, le=200, description="Rows per page (at most 200)")]
RegionQuery = Annotated[
    str | None,
    Query(pattern=r"^[1-9]\d{5}$", description="GB/T 2260 code; includes everything inside it"),
]
TextQuery = Annotated[str | None, Query(max_length=64, description="Part of a name or code")]
ActiveOn = Annotated[date | None, Query(description="Only those in force on this day")]


# ---------------------------------------------------------------- load-or-404 dependencies


def _current_region(code: str, session: DbSession) -> Region:
    region = registry.get_region(session, code=code)
    if region is None:
        raise NotFound("行政区划", "Region", code)
    return region


def _current_institution(institution_id: Key, session: DbSession) -> Institution:
    return registry.get_institution_or_raise(session, institution_id=institution_id)


def _current_department(department_id: Key, session: DbSession) -> Department:
    return registry.get_department_or_raise(session, department_id=department_id)


def _current_practitioner(practitioner_id: Key, session: DbSession) -> Practitioner:
    return registry.get_practitioner_or_raise(session, practitioner_id=practitioner_id)


def _current_agreement(agreement_id: Key, session: DbSession) -> Agreement:
    return agreements.get_agreement_or_raise(session, agreement_id=agreement_id)


CurrentRegion = Annotated[Region, Depends(_current_region)]
CurrentInstitution = Annotated[Institution, Depends(_current_institution)]
CurrentDepartment = Annotated[Department, Depends(_current_department)]
CurrentPractitioner = Annotated[Practitioner, Depends(_current_practitioner)]
CurrentAgreement = Annotated[Agreement, Depends(_current_agreement)]


def _institution_for(action: Action) -> Any:
    """The path's institution, if the user may do ``action`` there (403 before 404)."""

    permission = RequirePermission(action)

    def load(*, principal: Principal = permission, institution: CurrentInstitution) -> Institution:
        authorize(principal, action, [institution.id])
        return institution

    load.__name__ = f"institution_for_{action.name.lower()}"
    return Depends(load)


def _editable_department(
    principal: Annotated[Principal, RequirePermission(Action.DEPARTMENT_WRITE)],
    department: CurrentDepartment,
) -> Department:
    authorize(principal, Action.DEPARTMENT_WRITE, [department.institution_id])
    return department


def _editable_practitioner(
    principal: Annotated[Principal, RequirePermission(Action.PRACTITIONER_WRITE)],
    practitioner: CurrentPractitioner,
) -> Practitioner:
    authorize(principal, Action.PRACTITIONER_WRITE, [practitioner.institution_id])
    return practitioner


def _editable_agreement(
    principal: Annotated[Principal, RequirePermission(Action.AGREEMENT_WRITE)],
    agreement: CurrentAgreement,
) -> Agreement:
    # A hospital administrator may change an agreement their institution is a party to.
    authorize(principal, Action.AGREEMENT_WRITE, agreements.party_institution_ids(agreement))
    return agreement


EditableInstitution = Annotated[Institution, _institution_for(Action.INSTITUTION_UPDATE)]
DepartmentHost = Annotated[Institution, _institution_for(Action.DEPARTMENT_WRITE)]
EditableDepartment = Annotated[Department, Depends(_editable_department)]
EditablePractitioner = Annotated[Practitioner, Depends(_editable_practitioner)]
EditableAgreement = Annotated[Agreement, Depends(_editable_agreement)]


def _check_may_move_campus(
    principal: Principal, institution: Institution, body: InstitutionUpdate
) -> None:
    """Which hospital runs a campus decides who administers it: a network-level change,
    so it takes the platform administrator's right to register institutions."""
    current = institution.parent.code if institution.parent is not None else None
    if "parent_code" in body.model_fields_set and body.parent_code != current:
        authorize(principal, Action.INSTITUTION_CREATE)


# ---------------------------------------------------------------- regions


@router.get("/regions", response_model=list[RegionRead])
def list_regions(
    session: DbSession,
    parent: Annotated[str | None, Query(description="Only the direct children of this code")]
    = None,
) -> list[RegionRead]:
    """GB/T 2260 regions, all or the children of one."""
    regions = registry.list_regions(session, parent_code=parent)
    return [RegionRead.model_validate(region) for region in regions]


@router.get("/regions/{code}", response_model=RegionRead)
def read_region(region: CurrentRegion) -> RegionRead:
    """One region."""
    return RegionRead.model_validate(region)


@router.post("/regions", response_model=RegionRead, status_code=201)
def create_region(
    body: RegionCreate,
    session: DbSession,
    _principal: Annotated[Principal, RequirePermission(Action.REGION_WRITE)],
) -> RegionRead:
    """Add a region (platform administrators)."""
    return RegionRead.model_validate(registry.create_region(session, data=body))


# ---------------------------------------------------------------- CSV


def _csv_response(session: DbSession, kind: csvio.CsvKind) -> Response:
    text = csvio.export_csv(session, kind=kind)
    audit.record(session, action="registry.export", entity_type=kind.value)
    return Response(
        # The BOM makes Excel read the file as UTF-8, so Chinese names show correctly.
        content=("\ufeff" + text).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind.value}.csv"'},
    )


@router.get("/institutions/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_institutions(session: DbSession) -> Response:
    """Every institution as CSV (UTF-8 with BOM), ready to edit in Excel and import back."""
    return _csv_response(session, csvio.CsvKind.INSTITUTIONS)


@router.get("/agreements/export.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_agreements(session: DbSession) -> Response:
    """Every agreement as CSV (UTF-8 with BOM), ready to edit in Excel and import back."""
    return _csv_response(session, csvio.CsvKind.AGREEMENTS)


@router.post("/import", response_model=csvio.ImportReport)
def import_csv(
    session: DbSession,
    _principal: Annotated[Principal, RequirePermission(Action.REGISTRY_IMPORT)],
    file: Annotated[UploadFile, File(description="Institutions or agreements CSV")],
    kind: Annotated[csvio.CsvKind | None, Form(description="Read from the header if left out")]
    = None,
) -> csvio.ImportReport:
    """Create or update institutions or agreements from CSV: every row, or none (422)."""
    data = file.file.read(csvio.MAX_FILE_BYTES + 1)
    return csvio.import_csv(session, text=csvio.read_text(data), kind=kind)


# ---------------------------------------------------------------- institutions


@router.get("/institutions", response_model=Page[InstitutionRead])
def list_institutions(
    session: DbSession,
    region: RegionQuery = None,
    level: Annotated[int | None, Query(ge=1, le=3)] = None,
    grade: InstitutionGrade | None = None,
    kind: InstitutionKind | None = None,
    centre: EmergencyCentre | None = None,
    agreement_type: AgreementType | None = None,
    parent_id: Key | None = None,
    q: TextQuery = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[InstitutionRead]:
    """Institutions, highest level first, filtered and paged."""
    where = registry.InstitutionFilter(
        region_code=region, level=level, grade=grade, kind=kind, centre=centre,
        agreement_type=agreement_type, parent_id=parent_id, text=q,
    )
    rows, total = registry.list_institutions(session, where=where, offset=offset, limit=limit)
    return Page[InstitutionRead](
        items=[InstitutionRead.model_validate(row) for row in rows],
        total=total, offset=offset, limit=limit,
    )


@router.get("/institutions/{institution_id}", response_model=InstitutionRead)
def read_institution(institution: CurrentInstitution) -> InstitutionRead:
    """One institution."""
    return InstitutionRead.model_validate(institution)


@router.post("/institutions", response_model=InstitutionRead, status_code=201)
def create_institution(
    body: InstitutionCreate,
    session: DbSession,
    _principal: Annotated[Principal, RequirePermission(Action.INSTITUTION_CREATE)],
) -> InstitutionRead:
    """Register an institution, or a campus of one with ``parent_code`` (platform admins)."""
    return InstitutionRead.model_validate(registry.create_institution(session, data=body))


@router.patch("/institutions/{institution_id}", response_model=InstitutionRead)
def update_institution(
    body: InstitutionUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    institution: EditableInstitution,
) -> InstitutionRead:
    """Change an institution (its own administrators, or platform administrators)."""
    _check_may_move_campus(principal, institution, body)
    updated = registry.update_institution(session, institution=institution, data=body)
    return InstitutionRead.model_validate(updated)


@router.get("/institutions/{institution_id}/campuses", response_model=list[InstitutionRead])
def list_campuses(institution: CurrentInstitution, session: DbSession) -> list[InstitutionRead]:
    """Institutions run as campuses of this one."""
    campuses = registry.campuses_of(session, institution_id=institution.id)
    return [InstitutionRead.model_validate(campus) for campus in campuses]


# ---------------------------------------------------------------- departments


@router.get("/institutions/{institution_id}/departments", response_model=list[DepartmentRead])
def list_departments(
    institution: CurrentInstitution, session: DbSession
) -> list[DepartmentRead]:
    """Departments of an institution."""
    departments = registry.list_departments(session, institution_id=institution.id)
    return [DepartmentRead.model_validate(department) for department in departments]


@router.post("/institutions/{institution_id}/departments", response_model=DepartmentRead,
             status_code=201)
def create_department(
    body: DepartmentCreate, session: DbSession, institution: DepartmentHost
) -> DepartmentRead:
    """Add a department to an institution (its own administrators, or platform admins)."""
    department = registry.create_department(session, institution=institution, data=body)
    return DepartmentRead.model_validate(department)


@router.get("/departments/{department_id}", response_model=DepartmentRead)
def read_department(department: CurrentDepartment) -> DepartmentRead:
    """One department."""
    return DepartmentRead.model_validate(department)


@router.patch("/departments/{department_id}", response_model=DepartmentRead)
def update_department(
    body: DepartmentUpdate, session: DbSession, department: EditableDepartment
) -> DepartmentRead:
    """Change a department (administrators of its institution or of the hospital running it)."""
    updated = registry.update_department(session, department=department, data=body)
    return DepartmentRead.model_validate(updated)


# ---------------------------------------------------------------- practitioners


@router.get("/practitioners", response_model=Page[PractitionerRead])
def list_practitioners(
    session: DbSession,
    institution_id: Key | None = None,
    department_id: Key | None = None,
    specialty: Annotated[str | None, Query(max_length=32)] = None,
    q: TextQuery = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PractitionerRead]:
    """Practitioners by home institution, department, specialty or name, paged."""
    where = registry.PractitionerFilter(
        institution_id=institution_id, department_id=department_id, specialty=specialty, text=q
    )
    rows, total = registry.list_practitioners(session, where=where, offset=offset, limit=limit)
    return Page[PractitionerRead](
        items=[PractitionerRead.model_validate(row) for row in rows],
        total=total, offset=offset, limit=limit,
    )


@router.get("/practitioners/{practitioner_id}", response_model=PractitionerRead)
def read_practitioner(practitioner: CurrentPractitioner) -> PractitionerRead:
    """One practitioner."""
    return PractitionerRead.model_validate(practitioner)


@router.post("/practitioners", response_model=PractitionerRead, status_code=201)
def create_practitioner(
    body: PractitionerCreate,
    session: DbSession,
    principal: Annotated[Principal, RequirePermission(Action.PRACTITIONER_WRITE)],
) -> PractitionerRead:
    """Register a practitioner at their home institution (that institution's administrators)."""
    home = registry.institution_by_code_or_raise(session, code=body.institution_code)
    authorize(principal, Action.PRACTITIONER_WRITE, [home.id])
    return PractitionerRead.model_validate(registry.create_practitioner(session, data=body))


@router.patch("/practitioners/{practitioner_id}", response_model=PractitionerRead)
def update_practitioner(
    body: PractitionerUpdate, session: DbSession, practitioner: EditablePractitioner
) -> PractitionerRead:
    """Change a practitioner (administrators of their home institution)."""
    updated = registry.update_practitioner(session, practitioner=practitioner, data=body)
    return PractitionerRead.model_validate(updated)


@router.get("/practitioners/{practitioner_id}/roles", response_model=list[PractitionerRoleRead])
def list_practitioner_roles(
    practitioner: CurrentPractitioner, session: DbSession, active_on: ActiveOn = None
) -> list[PractitionerRoleRead]:
    """The roles a practitioner holds, at home and at other institutions."""
    roles = registry.list_roles(session, practitioner_id=practitioner.id, active_on=active_on)
    return [PractitionerRoleRead.model_validate(role) for role in roles]


@router.get("/practitioner-roles", response_model=list[PractitionerRoleRead])
def list_roles(
    session: DbSession,
    institution_id: Key | None = None,
    practitioner_id: Key | None = None,
    active_on: ActiveOn = None,
) -> list[PractitionerRoleRead]:
    """Roles held at an institution (stationed experts, dual directors, trainees …)."""
    roles = registry.list_roles(
        session, practitioner_id=practitioner_id, institution_id=institution_id,
        active_on=active_on,
    )
    return [PractitionerRoleRead.model_validate(role) for role in roles]


@router.post("/practitioner-roles", response_model=PractitionerRoleRead, status_code=201)
def create_role(
    body: PractitionerRoleCreate,
    session: DbSession,
    principal: Annotated[Principal, RequirePermission(Action.PRACTITIONER_ROLE_WRITE)],
) -> PractitionerRoleRead:
    """Give a practitioner a role (administrators of the institution where it is held)."""
    host = registry.institution_by_code_or_raise(session, code=body.institution_code)
    authorize(principal, Action.PRACTITIONER_ROLE_WRITE, [host.id])
    return PractitionerRoleRead.model_validate(registry.create_role(session, data=body))


# ---------------------------------------------------------------- agreements


@router.get("/agreements", response_model=Page[AgreementRead])
def list_agreements(
    session: DbSession,
    agreement_type: Annotated[AgreementType | None, Query(alias="type")] = None,
    status: AgreementStatus | None = None,
    institution_id: Annotated[Key | None, Query(description="One of the parties")] = None,
    region: RegionQuery = None,
    active_on: ActiveOn = None,
    q: TextQuery = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[AgreementRead]:
    """Agreements, newest first, filtered and paged."""
    where = agreements.AgreementFilter(
        type=agreement_type, status=status, institution_id=institution_id, region_code=region,
        active_on=active_on, text=q,
    )
    rows, total = agreements.list_agreements(session, where=where, offset=offset, limit=limit)
    return Page[AgreementRead](
        items=[AgreementRead.model_validate(row) for row in rows],
        total=total, offset=offset, limit=limit,
    )


@router.get("/agreements/{agreement_id}", response_model=AgreementRead)
def read_agreement(agreement: CurrentAgreement) -> AgreementRead:
    """One agreement and its parties."""
    return AgreementRead.model_validate(agreement)


@router.post("/agreements", response_model=AgreementRead, status_code=201)
def create_agreement(
    body: AgreementCreate,
    session: DbSession,
    principal: Annotated[Principal, RequirePermission(Action.AGREEMENT_WRITE)],
) -> AgreementRead:
    """Record an agreement (a hospital administrator's institution must be a party)."""
    party_ids = [
        registry.institution_by_code_or_raise(session, code=party.institution_code).id
        for party in body.parties
    ]
    authorize(principal, Action.AGREEMENT_WRITE, party_ids)
    return AgreementRead.model_validate(agreements.create_agreement(session, data=body))


@router.patch("/agreements/{agreement_id}", response_model=AgreementRead)
def update_agreement(
    body: AgreementUpdate, session: DbSession, agreement: EditableAgreement
) -> AgreementRead:
    """Change an agreement's terms or status (its parties' administrators)."""
    updated = agreements.update_agreement(session, agreement=agreement, data=body)
    return AgreementRead.model_validate(updated)
