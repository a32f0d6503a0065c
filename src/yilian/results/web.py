"""Results pages: a patient's shared results timeline (also an htmx fragment other pages
embed), a result's values with reference ranges and trends, the order-check page a doctor
uses before ordering, the savings ledger, and admin pages for the catalogue and the HR
qualifications. Every read goes through the services, which audit it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.deps import CurrentPrincipal, DbSession
from yilian.errors import YilianError
from yilian.patients import service as patients
from yilian.patients.models import Person
from yilian.portal.pages import N_, flash, render_page
from yilian.registry import service as registry
from yilian.results import catalogue, labels, qualifications, recognition
from yilian.results import service as results
from yilian.results.models import Decision, DiagnosticReport, HrScope, RetestReason
from yilian.results.schemas import CheckRequest, DecisionCreate, QualificationCreate
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/results", include_in_schema=False)

TREND_HEIGHT = 60  # px of the tallest bar in a trend


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    helpers = labels.template_helpers(current_language.get())
    return render_page(request, session, template,
                       {**helpers, "beijing": recognition.BEIJING, **context},
                       status_code=status_code)


def _timeline_context(
    session: Session, principal: Principal, person: Person
) -> dict[str, Any]:
    entries = results.timeline(session, principal, person=person,
                               ordering_institution_id=principal.institution_id)
    institutions = registry.institutions_by_id(
        session, ids={entry.report.institution_id for entry in entries})
    return {"person": person, "entries": entries, "institutions": institutions,
            "judged_for": principal.institution_id}


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_results(request: Request, session: DbSession, principal: CurrentPrincipal,
                   person_id: Key) -> Response:
    """A patient's shared results, newest first, with HR marks and validity countdown."""
    authorize(principal, Action.RESULT_READ)
    person = patients.get_person_or_raise(session, principal, person_id=person_id,
                                          purpose="result.read")
    return _page(request, session, "results/person.html",
                 _timeline_context(session, principal, person))


@router.get("/persons/{person_id}/timeline", response_class=HTMLResponse)
def timeline_fragment(request: Request, session: DbSession, principal: CurrentPrincipal,
                      person_id: Key) -> Response:
    """The timeline alone, for referral and consultation pages to embed with htmx."""
    authorize(principal, Action.RESULT_READ)
    person = patients.get_person_or_raise(session, principal, person_id=person_id,
                                          purpose="result.read")
    return _page(request, session, "results/_timeline.html",
                 _timeline_context(session, principal, person))


@dataclass(frozen=True)
class TrendBar:
    """One value of a repeated lab item, drawn as a bar."""

    label: str
    value: str
    height: int
    x: int
    abnormal: bool


def trends(reports: list[DiagnosticReport]) -> dict[str, list[TrendBar]]:
    """Per observation code, its numeric values over the given reports, oldest first."""
    series: dict[str, list[tuple[str, Decimal, bool]]] = {}
    for report in sorted(reports, key=lambda r: r.performed_at):
        for observation in report.observations:
            if observation.value_number is not None:
                flagged = observation.abnormal_flag not in (None, "N")
                series.setdefault(observation.code, []).append(
                    (f"{report.performed_at:%m-%d}", observation.value_number, flagged))
    bars: dict[str, list[TrendBar]] = {}
    for code, points in series.items():
        if len(points) < 2:
            continue
        top = max(abs(value) for _, value, _ in points) or Decimal(1)
        bars[code] = [
            TrendBar(label, f"{value.normalize():f}",
                     max(int(abs(value) / top * TREND_HEIGHT), 2), index * 36, flagged)
            for index, (label, value, flagged) in enumerate(points)
        ]
    return bars


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_detail(request: Request, session: DbSession, principal: CurrentPrincipal,
                  report_id: Key) -> Response:
    """One result: values against reference ranges, trends, images, conclusion."""
    authorize(principal, Action.RESULT_READ)
    report = results.get_report_or_raise(session, principal, report_id=report_id)
    person = patients.current_person(session, person_id=report.person_id)
    assert person is not None
    entries = results.timeline(session, principal, person=person, ordering_institution_id=None)
    same_item = [e.report for e in entries if e.report.item_code == report.item_code
                 and not e.superseded]
    institution = registry.get_institution(session, institution_id=report.institution_id)
    return _page(request, session, "results/report.html", {
        "report": report, "item": results.get_item(session, code=report.item_code),
        "institution": institution, "trends": trends(same_item), "person": person,
        "superseded": report.id in results.superseded_ids(session, report_ids=[report.id]),
    })


# ---------------------------------------------------------------- order check


def _check_context(session: Session, principal: Principal, person_id: Key | None,
                   item_code: str) -> dict[str, Any]:
    context: dict[str, Any] = {"items": results.list_items(session), "person_id": person_id,
                               "item_code": item_code, "answer": None,
                               "reasons": list(RetestReason), "error": None}
    if person_id and item_code and principal.institution_id is not None:
        answer = results.check(session, principal, data=CheckRequest(
            person_id=person_id, ordering_institution_id=principal.institution_id,
            item_codes=[item_code]))
        context["answer"] = answer.items[0]
        context["institutions"] = registry.institutions_by_id(
            session, ids={r.institution_id for r in
                          answer.items[0].recognisable + answer.items[0].refused})
    return context


@router.get("/order-check", response_class=HTMLResponse)
def order_check(request: Request, session: DbSession, principal: CurrentPrincipal,
                person_id: Key | None = None, item_code: str = "") -> Response:
    """Before ordering: is there a recognisable result of this item for this patient?"""
    authorize(principal, Action.RESULT_CHECK)
    return _page(request, session, "results/order_check.html",
                 _check_context(session, principal, person_id, item_code))


@router.post("/decisions", response_class=HTMLResponse)
def record_decision(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    person_id: Annotated[int, Form()], item_code: Annotated[str, Form()],
    decision: Annotated[Decision, Form()],
    report_id: Annotated[int | None, Form()] = None,
    reason: Annotated[str, Form()] = "", reason_text: Annotated[str, Form()] = "",
) -> Response:
    """Accept the recognisable result (saving recorded) or re-test with a reason."""
    authorize(principal, Action.RESULT_CHECK)
    institution_id = principal.institution_id or 0
    try:
        data = DecisionCreate(
            person_id=person_id, ordering_institution_id=institution_id, item_code=item_code,
            decision=decision, report_id=report_id,
            reason=RetestReason(reason) if reason else None, reason_text=reason_text)
        results.decide(session, principal, data=data)
    except (YilianError, ValidationError, ValueError) as error:
        session.rollback()
        context = _check_context(session, principal, person_id, item_code)
        if isinstance(error, YilianError):
            context["error"] = error.message(current_language.get())
        else:
            context["error"] = str(error)
        return _page(request, session, "results/order_check.html", context, status_code=422)
    flash(request, N_("Recognition accepted: the test is not repeated and the saving is "
                      "recorded.") if decision is Decision.ACCEPTED
          else N_("Re-test recorded with its reason."))
    return RedirectResponse(f"/results/order-check?person_id={person_id}&item_code={item_code}",
                            status_code=303)


@router.get("/savings", response_class=HTMLResponse)
def savings(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The savings ledger: tests avoided and money saved per institution, item and month."""
    authorize(principal, Action.RESULT_SAVINGS)
    mine = (None if scope_of(principal, Action.RESULT_SAVINGS) is Scope.NETWORK
            else principal.institution_ids)
    totals = results.savings_totals(session, institution_ids=mine)
    return _page(request, session, "results/savings.html", {
        "totals": totals,
        "institutions": registry.institutions_by_id(session, ids={t.institution_id
                                                                  for t in totals}),
        "items": {item.code: item for item in results.list_items(session)},
        "grand_total": sum((t.amount for t in totals), Decimal("0.00")),
    })


# ---------------------------------------------------------------- admin


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                   ) -> Response:
    """The recognition catalogue, and loading a new version of it."""
    authorize(principal, Action.RESULT_READ)
    return _page(request, session, "results/catalogue.html",
                 {"items": results.list_items(session), "problems": []})


@router.post("/catalogue", response_class=HTMLResponse)
async def catalogue_upload(request: Request, session: DbSession, principal: CurrentPrincipal,
                           file: UploadFile) -> Response:
    """Load a catalogue CSV, all rows or none."""
    authorize(principal, Action.RESULT_CATALOGUE)
    try:
        count = catalogue.load_csv(session, data=await file.read())
    except YilianError as error:
        session.rollback()
        return _page(request, session, "results/catalogue.html", {
            "items": results.list_items(session), "problems": error.details,
            "error": error.message(current_language.get())}, status_code=422)
    flash(request, N_("Catalogue loaded."))
    del count
    return RedirectResponse("/results/catalogue", status_code=303)


def _qualifications_context(session: Session, **extra: Any) -> dict[str, Any]:
    marks = results.list_qualifications(session)
    return {"marks": marks, "scopes": list(HrScope), "error": None, "problems": [],
            "institutions": registry.institutions_by_id(
                session, ids={m.institution_id for m in marks}), **extra}


@router.get("/qualifications", response_class=HTMLResponse)
def qualifications_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                        ) -> Response:
    """HR qualifications of every institution."""
    authorize(principal, Action.RESULT_READ)
    return _page(request, session, "results/qualifications.html",
                 _qualifications_context(session))


@router.post("/qualifications", response_class=HTMLResponse)
def qualification_create(
    request: Request, session: DbSession, principal: CurrentPrincipal,
    institution_code: Annotated[str, Form()], scope: Annotated[str, Form()],
    valid_from: Annotated[str, Form()], valid_to: Annotated[str, Form()],
    item_code: Annotated[str, Form()] = "", item_group: Annotated[str, Form()] = "",
    eqa_reference: Annotated[str, Form()] = "",
) -> Response:
    """Record an HR mark from an EQA result."""
    authorize(principal, Action.RESULT_CATALOGUE)
    try:
        institution = registry.institution_by_code_or_raise(session, code=institution_code)
        results.create_qualification(session, data=QualificationCreate(
            institution_id=institution.id, item_code=item_code, item_group=item_group,
            scope=HrScope(scope), valid_from=date.fromisoformat(valid_from),
            valid_to=date.fromisoformat(valid_to), eqa_reference=eqa_reference))
    except (YilianError, ValidationError, ValueError) as error:
        session.rollback()
        message = (error.message(current_language.get()) if isinstance(error, YilianError)
                   else str(error))
        return _page(request, session, "results/qualifications.html",
                     _qualifications_context(session, error=message), status_code=422)
    flash(request, N_("Qualification recorded."))
    return RedirectResponse("/results/qualifications", status_code=303)


@router.post("/qualifications/import", response_class=HTMLResponse)
async def qualifications_upload(request: Request, session: DbSession,
                                principal: CurrentPrincipal, file: UploadFile) -> Response:
    """Import the quality-control centre's qualifications CSV, all rows or none."""
    authorize(principal, Action.RESULT_CATALOGUE)
    try:
        qualifications.import_csv(session, data=await file.read())
    except YilianError as error:
        session.rollback()
        return _page(request, session, "results/qualifications.html", _qualifications_context(
            session, error=error.message(current_language.get()), problems=error.details),
            status_code=422)
    flash(request, N_("Qualifications imported."))
    return RedirectResponse("/results/qualifications", status_code=303)
