"""The home page at ``/``: what each role needs first when they sign in."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.deps import CurrentPrincipal, DbSession
from yilian.portal.pages import render_page
from yilian.registry import agreements as agreement_service
from yilian.registry import labels as _labels  # noqa: F401 - registers enum display names
from yilian.registry import service as registry
from yilian.registry import stats

router = APIRouter(include_in_schema=False)

# How many of the institution's agreements the home page lists before linking to the rest.
HOME_AGREEMENTS = 10


def _institution_summary(session: Session, principal: Principal) -> dict[str, Any]:
    """The user's institution with its departments, campuses and agreements."""
    if principal.institution_id is None:
        return {"institution": None}
    institution = registry.get_institution(session, institution_id=principal.institution_id)
    if institution is None:
        return {"institution": None}
    agreements, agreement_total = agreement_service.list_agreements(
        session,
        where=agreement_service.AgreementFilter(institution_id=institution.id),
        limit=HOME_AGREEMENTS,
    )
    _, practitioner_total = registry.list_practitioners(
        session, where=registry.PractitionerFilter(institution_id=institution.id), limit=1
    )
    return {
        "institution": institution,
        "departments": registry.list_departments(session, institution_id=institution.id),
        "campuses": registry.campuses_of(session, institution_id=institution.id),
        "agreements": agreements,
        "agreement_total": agreement_total,
        "practitioner_total": practitioner_total,
    }


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    """The signed-in user's home page, by role."""
    context: dict[str, Any]
    if principal.role is Role.PLATFORM_ADMIN:
        context = {
            "counts": stats.network_counts(session),
            "by_type": stats.agreements_by_type(session),
        }
    elif principal.role is Role.COMMISSION_ANALYST:
        context = {
            "counts": stats.network_counts(session),
            "by_type": stats.agreements_by_type(session),
            "active_by_type": stats.agreements_by_type(session, active_only=True),
            "provinces": stats.counts_by_province(session),
        }
    else:
        context = _institution_summary(session, principal)
    return render_page(request, session, "portal/home.html", context)
