"""Registry pages: the institution directory, agreements, and the department form.

Lists filter with a plain GET form, so they work without JavaScript; with htmx the same
form swaps only the results (the server answers an htmx request aimed at ``#results``
with the results fragment) and pushes the filtered URL into the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth.permissions import Action, authorize
from yilian.deps import CurrentPrincipal, DbSession
from yilian.errors import YilianError
from yilian.portal.pages import (
    N_,
    PAGE_SIZE,
    flash,
    form_errors,
    is_results_request,
    page_number,
    pager,
    render_page,
    vary,
)
from yilian.registry import agreements as agreement_service
from yilian.registry import labels as _labels  # noqa: F401 - registers enum display names
from yilian.registry import service as registry
from yilian.registry.models import (
    AgreementStatus,
    AgreementType,
    EmergencyCentre,
    InstitutionGrade,
    InstitutionKind,
    InstitutionLevel,
    Region,
    RegionLevel,
)
from yilian.registry.schemas import DepartmentUpdate
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/registry", include_in_schema=False)

# Agreements listed on an institution's page before linking to the filtered list.
DETAIL_AGREEMENTS = 50
# The API exports the whole registry (the file round-trips through its import), not a filter.
INSTITUTION_EXPORT = "/api/v1/registry/institutions/export.csv"
AGREEMENT_EXPORT = "/api/v1/registry/agreements/export.csv"

E = TypeVar("E", bound=Enum)


# ---------------------------------------------------------------- query parsing


def _enum_or_none(kind: Callable[[Any], E], raw: str | None) -> E | None:
    """The member named by a query value; a value no form offers is ignored."""
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        return None


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


def _level(raw: str | None) -> int | None:
    number = _int_or_none(raw)
    return number if number in set(InstitutionLevel) else None


def _text(raw: str | None) -> str | None:
    cleaned = (raw or "").strip()[:64]
    return cleaned or None


def _region_code(raw: str | None) -> str | None:
    return raw if raw and raw.isdigit() and len(raw) == 6 else None


# ---------------------------------------------------------------- regions


@dataclass(frozen=True)
class RegionOption:
    """A province or city in the region filter; cities are shown under their province."""

    code: str
    name: str
    indented: bool


# GB/T 2260 names the city-level grouping of a municipality's districts (or counties) 市辖区
# (县): alone, the name does not say whose they are.
MUNICIPAL_GROUPINGS = ("市辖区", "县")


def _region_name(region: Region) -> str:
    if current_language.get() == "en":
        return region.name_en or region.name
    return region.name


def region_options(session: Session) -> list[RegionOption]:
    """Provinces, each followed by its cities: choosing a province takes in its cities.

    A municipality's 市辖区 is not offered: choosing the municipality means the same.
    """
    regions = registry.list_regions(session)
    options: list[RegionOption] = []
    for province in (r for r in regions if r.level is RegionLevel.PROVINCE):
        options.append(RegionOption(province.code, _region_name(province), False))
        options.extend(
            RegionOption(city.code, _region_name(city), True)
            for city in regions
            if city.level is RegionLevel.CITY
            and city.parent_code == province.code
            and city.name not in MUNICIPAL_GROUPINGS
        )
    return options


def region_path(session: Session, code: str) -> list[Region]:
    """The province, city and county a region code lies in, outermost first.

    A municipality's 市辖区 level is left out: 北京市 西城区 says it all.
    """
    codes = [f"{code[:2]}0000", f"{code[:4]}00", code]
    path: list[Region] = []
    for candidate in dict.fromkeys(codes):  # unique, in order
        region = registry.get_region(session, code=candidate)
        if region is not None and not (
            region.level is RegionLevel.CITY and region.name in MUNICIPAL_GROUPINGS
        ):
            path.append(region)
    return path


# ---------------------------------------------------------------- institutions


@router.get("/institutions", response_class=HTMLResponse)
def institution_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    region_code: str | None = None,
    level: str | None = None,
    grade: str | None = None,
    kind: str | None = None,
    centre: str | None = None,
    agreement_type: str | None = None,
    text: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """The institution directory, filtered and paged."""
    authorize(principal, Action.REGISTRY_READ)
    where = registry.InstitutionFilter(
        region_code=_region_code(region_code),
        level=_level(level),
        grade=_enum_or_none(InstitutionGrade, grade),
        kind=_enum_or_none(InstitutionKind, kind),
        centre=_enum_or_none(EmergencyCentre, centre),
        agreement_type=_enum_or_none(AgreementType, agreement_type),
        text=_text(text),
    )
    filters: dict[str, Any] = {
        "region_code": where.region_code,
        "level": where.level,
        "grade": where.grade,
        "kind": where.kind,
        "centre": where.centre,
        "agreement_type": where.agreement_type,
        "text": where.text,
    }
    number = page_number(page)
    rows, total = registry.list_institutions(
        session, where=where, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    context: dict[str, Any] = {
        "institutions": rows,
        "filters": filters,
        "pager": pager(request.url.path, filters, number, total),
        "export_url": INSTITUTION_EXPORT,
        "regions": {row.region_code: region_path(session, row.region_code) for row in rows},
    }
    if is_results_request(request):
        return _fragment(request, session, "registry/_institution_results.html", context)
    context.update(
        region_options=region_options(session),
        levels=list(InstitutionLevel),
        grades=list(InstitutionGrade),
        kinds=list(InstitutionKind),
        centres=list(EmergencyCentre),
        agreement_types=list(AgreementType),
    )
    return vary(render_page(request, session, "registry/institutions.html", context))


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def institution_detail(
    request: Request, session: DbSession, principal: CurrentPrincipal, institution_id: Key
) -> HTMLResponse:
    """Everything registered about one institution."""
    authorize(principal, Action.REGISTRY_READ)
    institution = registry.get_institution_or_raise(session, institution_id=institution_id)
    agreements, agreement_total = agreement_service.list_agreements(
        session,
        where=agreement_service.AgreementFilter(institution_id=institution.id),
        limit=DETAIL_AGREEMENTS,
    )
    _, practitioner_total = registry.list_practitioners(
        session, where=registry.PractitionerFilter(institution_id=institution.id), limit=1
    )
    departments = registry.list_departments(session, institution_id=institution.id)
    return render_page(
        request,
        session,
        "registry/institution_detail.html",
        {
            "institution": institution,
            "region_path": region_path(session, institution.region_code),
            "campuses": registry.campuses_of(session, institution_id=institution.id),
            "departments": departments,
            "department_beds": sum(department.beds for department in departments),
            "practitioner_total": practitioner_total,
            "agreements": agreements,
            "agreement_total": agreement_total,
            "party_roles": {
                agreement.id: next(
                    (p.role for p in agreement.parties if p.institution_id == institution.id),
                    None,
                )
                for agreement in agreements
            },
        },
    )


# ---------------------------------------------------------------- agreements


@router.get("/agreements", response_class=HTMLResponse)
def agreement_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    type: str | None = None,  # the filter's public name, as in the API
    status: str | None = None,
    region_code: str | None = None,
    institution_id: str | None = None,
    text: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """Collaboration agreements, filtered and paged."""
    authorize(principal, Action.REGISTRY_READ)
    party = _int_or_none(institution_id)
    party_institution = (
        registry.get_institution(session, institution_id=party) if party is not None else None
    )
    where = agreement_service.AgreementFilter(
        type=_enum_or_none(AgreementType, type),
        status=_enum_or_none(AgreementStatus, status),
        region_code=_region_code(region_code),
        institution_id=party_institution.id if party_institution else None,
        text=_text(text),
    )
    filters: dict[str, Any] = {
        "type": where.type,
        "status": where.status,
        "region_code": where.region_code,
        "institution_id": where.institution_id,
        "text": where.text,
    }
    number = page_number(page)
    rows, total = agreement_service.list_agreements(
        session, where=where, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    context: dict[str, Any] = {
        "agreements": rows,
        "filters": filters,
        "party_institution": party_institution,
        "pager": pager(request.url.path, filters, number, total),
        "export_url": AGREEMENT_EXPORT,
    }
    if is_results_request(request):
        return _fragment(request, session, "registry/_agreement_results.html", context)
    context.update(
        region_options=region_options(session),
        agreement_types=list(AgreementType),
        statuses=list(AgreementStatus),
    )
    return vary(render_page(request, session, "registry/agreements.html", context))


@router.get("/agreements/{agreement_id}", response_class=HTMLResponse)
def agreement_detail(
    request: Request, session: DbSession, principal: CurrentPrincipal, agreement_id: Key
) -> HTMLResponse:
    """One agreement and the institutions it binds."""
    authorize(principal, Action.REGISTRY_READ)
    agreement = agreement_service.get_agreement_or_raise(session, agreement_id=agreement_id)
    return render_page(request, session, "registry/agreement_detail.html",
                       {"agreement": agreement})


# ---------------------------------------------------------------- departments

# Form fields of the department form, named in both languages for error messages.
DEPARTMENT_FIELDS = {
    "name": N_("Name (Chinese)"),
    "name_en": N_("Name (English)"),
    "specialty": N_("Specialty code"),
    "beds": N_("Beds"),
}


@router.get("/departments/{department_id}/edit", response_class=HTMLResponse)
def department_form(
    request: Request, session: DbSession, principal: CurrentPrincipal, department_id: Key
) -> HTMLResponse:
    """The department form, for those who may change the institution's departments."""
    department = registry.get_department_or_raise(session, department_id=department_id)
    authorize(principal, Action.DEPARTMENT_WRITE, [department.institution_id])
    values = {
        "name": department.name,
        "name_en": department.name_en,
        "specialty": department.specialty,
        "beds": str(department.beds),
    }
    return render_page(
        request, session, "registry/department_form.html",
        {"department": department, "values": values, "error": None, "field_errors": {}},
    )


@router.post("/departments/{department_id}/edit", response_class=HTMLResponse)
def department_save(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    department_id: Key,
    name: Annotated[str, Form(max_length=200)] = "",
    name_en: Annotated[str, Form(max_length=400)] = "",
    specialty: Annotated[str, Form(max_length=200)] = "",
    beds: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Save the department form; on bad input show the form again with what is wrong."""
    department = registry.get_department_or_raise(session, department_id=department_id)
    authorize(principal, Action.DEPARTMENT_WRITE, [department.institution_id])
    values = {"name": name, "name_en": name_en, "specialty": specialty, "beds": beds}
    summary: str
    field_errors: dict[str, str] = {}
    try:
        changes = DepartmentUpdate.model_validate(
            {"name": name, "name_en": name_en, "specialty": specialty, "beds": beds.strip()}
        )
        registry.update_department(session, department=department, data=changes)
    except ValidationError as invalid:
        summary, field_errors = form_errors(invalid, DEPARTMENT_FIELDS)
    except YilianError as refused:
        summary = refused.message(current_language.get())
    else:
        flash(request, N_("Department saved."))
        # No #departments anchor: the page opens at the top, where the notice shows.
        return RedirectResponse(
            f"/registry/institutions/{department.institution_id}", status_code=303
        )
    session.rollback()
    # The refused change leaves a trace too; the request still commits this record.
    audit.record(
        session, action="department.update", outcome=AuditOutcome.FAILED,
        entity_type="department", entity_id=str(department.id),
        institution_id=department.institution_id, detail={"fields": sorted(field_errors)},
    )
    return render_page(
        request, session, "registry/department_form.html",
        {"department": department, "values": values, "error": summary,
         "field_errors": field_errors},
        status_code=422,
    )


# ---------------------------------------------------------------- helpers


def _fragment(
    request: Request, session: Session, template: str, context: dict[str, Any]
) -> HTMLResponse:
    return vary(render_page(request, session, template, {**context, "fragment": True}))

