"""Advisor pages: "where should I go?" in the patient's booking flow (/advisor), and the panel
inside the referral form (an htmx fragment, POST /advisor/panel) whose "use this option"
fills the referral's target in one click (see referrals/web.py ``advised``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.advisor import service as advisor
from yilian.advisor.schemas import CareKind, Factor, RankRead, RankRequest, Weights
from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import InvalidInput, YilianError
from yilian.portal.pages import N_, form_errors, gettext, render_page
from yilian.referrals.models import Urgency
from yilian.registry import service as registry
from yilian.scheduling import labels as scheduling_labels
from yilian.scheduling.clock import Now
from yilian.webui import current_language

router = APIRouter(prefix="/advisor", include_in_schema=False)
FormText = Annotated[str, Form(max_length=64)]
FIELDS = {"specialty": N_("Specialty"), "diagnosis_code": N_("Diagnosis (ICD-10)"),
          "weights": N_("Weights"), "person_id": N_("Patient"), "weights.cost": N_("Cost"),
          "weights.wait": N_("Wait"), "weights.results": N_("Results held"),
          "weights.distance": N_("Distance")}
DEFAULT_WEIGHTS = Weights()


def _weight(raw: str, default: float) -> float | str:
    """A weight from a form field; the text itself when it is not a number (422 later)."""
    if not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        return raw


def request_from_form(values: dict[str, str], *, exclude: list[int]) -> RankRequest:
    """The rank request a form describes (ValidationError when it does not make one)."""
    weights = {factor.value: _weight(values.get(f"w_{factor.value}", ""),
                                     DEFAULT_WEIGHTS.of(factor)) for factor in Factor}
    body: dict[str, Any] = {
        "person_id": values.get("person_id") or None,
        "specialty": values.get("specialty") or None,
        "kind": values.get("kind") if values.get("kind") in set(CareKind) else "outpatient",
        "urgency": values.get("urgency") or "routine",
        "green_channel": values.get("green_channel") or None,
        "diagnosis_code": values.get("diagnosis_code") or None,
        "weights": weights, "exclude_institution_ids": exclude,
    }
    return RankRequest.model_validate(body)


def _answer(session: Session, settings: AppSettings, principal: Principal,
            values: dict[str, str], *, now: datetime,
            exclude: list[int]) -> tuple[RankRead | None, str | None]:
    """The ranking a form asks for, or the message saying what is wrong with it."""
    try:
        data = request_from_form(values, exclude=exclude)
        return advisor.rank(session, settings, principal, data=data, now=now), None
    except ValidationError as invalid:
        summary, _ = form_errors(invalid, FIELDS)
        return None, summary
    except YilianError as refused:
        if refused.status_code >= 500:
            raise
        return None, refused.message(current_language.get())


def _context(session: Session, values: dict[str, str]) -> dict[str, Any]:
    return {"values": values, "specialties": registry.list_specialties(session),
            "local_time": scheduling_labels.local_time,
            "factors": list(Factor), "defaults": DEFAULT_WEIGHTS, "Urgency": Urgency}


@router.get("", response_class=HTMLResponse)
def page(request: Request, session: DbSession, settings: AppSettings,
         principal: CurrentPrincipal, now: Now, person_id: str = "", specialty: str = "",
         kind: str = "outpatient", diagnosis_code: str = "", w_cost: str = "",
         w_wait: str = "", w_results: str = "", w_distance: str = "") -> HTMLResponse:
    """Where to go for a need: the ranked, explained options, and a slot to book (a patient
    books for themself; staff ask for a patient they may see)."""
    authorize(principal, Action.ADVISOR_RANK)
    if principal.person_id is not None:
        person_id = str(principal.person_id)
    values = {"person_id": person_id, "specialty": specialty, "kind": kind,
              "diagnosis_code": diagnosis_code, "w_cost": w_cost, "w_wait": w_wait,
              "w_results": w_results, "w_distance": w_distance}
    answer, error = (None, None)
    if specialty:
        if not person_id.isdigit():
            raise InvalidInput("person_required", "请选择患者", "Choose the patient")
        answer, error = _answer(session, settings, principal, values, now=now, exclude=[])
    return render_page(request, session, "advisor/page.html", {
        **_context(session, values), "answer": answer, "error": error,
        "for_patient": principal.person_id is not None,
    }, status_code=422 if error else 200)


@router.post("/panel", response_class=HTMLResponse)
def panel(request: Request, session: DbSession, settings: AppSettings,
          principal: CurrentPrincipal, now: Now,
          person_id: FormText = "", specialty: FormText = "", kind: FormText = "",
          urgency: FormText = "", green_channel: FormText = "", diagnosis_code: FormText = "",
          w_cost: FormText = "", w_wait: FormText = "", w_results: FormText = "",
          w_distance: FormText = "") -> HTMLResponse:
    """The advisor inside the referral form (an htmx fragment): the options for the form's
    patient and need, the referring institution itself left out."""
    authorize(principal, Action.ADVISOR_RANK)
    values = {"person_id": person_id, "specialty": specialty, "kind": kind,
              "urgency": urgency, "green_channel": green_channel,
              "diagnosis_code": diagnosis_code, "w_cost": w_cost, "w_wait": w_wait,
              "w_results": w_results, "w_distance": w_distance}
    answer, error = None, None
    if not person_id.isdigit():
        error = gettext(N_("Choose the patient first."))
    elif not specialty and not green_channel:
        error = gettext(N_("Choose the specialty the patient needs."))
    else:
        own = [principal.institution_id] if principal.institution_id else []
        answer, error = _answer(session, settings, principal, values, now=now, exclude=own)
    return render_page(request, session, "advisor/_panel_result.html", {
        **_context(session, values), "answer": answer, "error": error, "in_referral": True,
    })
