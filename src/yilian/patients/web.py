"""Patient pages: find and register patients, a person's records and link history, and the
review queue where stewards decide possible duplicates.

Search terms are POSTed, not put in the URL: a resident ID or phone number must not end up
in the browser history, a proxy log or a Referer header on a shared ward PC. The plain list
(the patients the user may see, newest first) is a GET and pages like the registry's; with
htmx either form swaps only the results. Every read goes through the services, which audit
it; ID and phone numbers are shown masked only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.auth.permissions import Action, Principal, Scope, authorize, scope_of
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import YilianError
from yilian.patients import labels, merging
from yilian.patients import service as patients
from yilian.patients.models import (
    InsuranceScheme,
    LinkEventKind,
    LinkMethod,
    Person,
    PersonStatus,
    ReviewStatus,
    Sex,
)
from yilian.patients.resident_id import ResidentIdError
from yilian.patients.router import record_read, review_detail_read
from yilian.patients.schemas import RecordCreate
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
from yilian.registry import service as registry
from yilian.registry.models import Institution
from yilian.schemas import Key
from yilian.webui import current_language

router = APIRouter(prefix="/patients", include_in_schema=False)

# Institutions offered in the registration form to a user who may register anywhere.
INSTITUTION_CHOICES = 1000

# What registering did, told to the clerk on the person's page (English msgids).
REGISTERED: dict[LinkMethod, str] = {
    LinkMethod.NEW_PERSON: N_("Patient registered: no one in the index matched, so this is "
                              "a new person."),
    LinkMethod.RESIDENT_ID: N_("Patient registered and linked by resident ID to a person "
                               "already in the index."),
    LinkMethod.PROBABILISTIC: N_("Patient registered and linked to a person already in the "
                                 "index: name, birth date and contact details agree."),
}
SENT_TO_REVIEW = N_("Patient registered. Possible duplicates were sent to the review queue.")

# Fields of the registration form, named in both languages for error messages.
RECORD_FIELDS = {
    "institution_id": N_("Institution"),
    "local_id": N_("Patient number"),
    "name": N_("Name"),
    "sex": N_("Sex"),
    "birth_date": N_("Birth date"),
    "id_number": N_("Resident ID"),
    "phone": N_("Phone"),
    "address": N_("Address"),
    "insured_region_code": N_("Insured region code"),
    "insurance_scheme": N_("Insurance scheme"),
}


# ---------------------------------------------------------------- helpers


def _page(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    helpers = labels.template_helpers(current_language.get())
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


# ---------------------------------------------------------------- lists


def _date_or_none(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True)
class PersonRow:
    """One person in a result list: masked ID numbers and where they are registered."""

    person: Person
    id_numbers: list[str]
    institutions: list[Institution]


def _person_rows(session: Session, people: Sequence[Person]) -> list[PersonRow]:
    names = registry.institutions_by_id(
        session, ids=(r.institution_id for p in people for r in p.records)
    )
    return [
        PersonRow(
            person=person,
            id_numbers=sorted({r.id_number_masked for r in person.records if r.id_number_masked}),
            institutions=[names[i] for i in sorted({r.institution_id for r in person.records})
                          if i in names],
        )
        for person in people
    ]


def _results(
    request: Request, session: Session, context: dict[str, Any]
) -> HTMLResponse:
    if is_results_request(request):
        return vary(_page(request, session, "patients/_results.html",
                           {**context, "fragment": True}))
    return vary(_page(request, session, "patients/search.html", context))


@router.get("", response_class=HTMLResponse)
def patient_list(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    page: str | None = None,
) -> HTMLResponse:
    """The patients the user may see, newest first, with the search form."""
    authorize(principal, Action.PATIENT_READ)
    number = page_number(page)
    people, total = patients.list_persons(
        session, settings, principal, where=patients.PersonFilter(),
        offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )
    return _results(request, session, {
        "rows": _person_rows(session, people),
        "total": total,
        "pager": pager(request.url.path, {}, number, total),
        "terms": {},
        "searched": False,
    })


@router.post("", response_class=HTMLResponse)
def patient_search(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    q: Annotated[str, Form(max_length=64)] = "",
    id_number: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
) -> HTMLResponse:
    """People matching every term given (the first page; narrow the search for others)."""
    authorize(principal, Action.PATIENT_READ)
    where = patients.PersonFilter(
        text=q.strip(), id_number=id_number.strip(), phone=phone.strip(),
        birth_date=_date_or_none(birth_date),
    )
    people, total = patients.list_persons(
        session, settings, principal, where=where, limit=PAGE_SIZE
    )
    return _results(request, session, {
        "rows": _person_rows(session, people),
        "total": total,
        "pager": None,
        "terms": {"q": q, "id_number": id_number, "phone": phone, "birth_date": birth_date},
        "searched": True,
    })


# ---------------------------------------------------------------- registration


def _institution_choices(session: Session, principal: Principal) -> list[Institution]:
    """Where the user may register patients: anywhere, or their institution and campuses."""
    if scope_of(principal, Action.PATIENT_WRITE) is Scope.NETWORK:
        rows, _ = registry.list_institutions(
            session, where=registry.InstitutionFilter(), limit=INSTITUTION_CHOICES
        )
        return list(rows)
    found = registry.institutions_by_id(session, ids=principal.institution_ids)
    return [found[i] for i in sorted(found)]


def _record_form(
    request: Request,
    session: Session,
    principal: Principal,
    values: dict[str, str],
    *,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(request, session, "patients/record_form.html", {
        "values": values,
        "institutions": _institution_choices(session, principal),
        "sexes": list(Sex),
        "schemes": list(InsuranceScheme),
        "error": error,
        "field_errors": field_errors or {},
    }, status_code=status_code)


@router.get("/new", response_class=HTMLResponse)
def record_form(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> HTMLResponse:
    """The registration form."""
    authorize(principal, Action.PATIENT_WRITE)
    values = dict.fromkeys(RECORD_FIELDS, "")
    values["institution_id"] = str(principal.institution_id or "")
    values["sex"] = Sex.UNKNOWN.value
    return _record_form(request, session, principal, values)


@router.post("/new", response_class=HTMLResponse)
def record_save(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    institution_id: Annotated[str, Form(max_length=20)] = "",
    local_id: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    sex: Annotated[str, Form(max_length=20)] = "",
    birth_date: Annotated[str, Form(max_length=20)] = "",
    id_number: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=64)] = "",
    address: Annotated[str, Form(max_length=400)] = "",
    insured_region_code: Annotated[str, Form(max_length=20)] = "",
    insurance_scheme: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Register the patient; on bad input show the form again with what is wrong."""
    authorize(principal, Action.PATIENT_WRITE)
    values = {
        "institution_id": institution_id, "local_id": local_id, "name": name, "sex": sex,
        "birth_date": birth_date, "id_number": id_number, "phone": phone, "address": address,
        "insured_region_code": insured_region_code, "insurance_scheme": insurance_scheme,
    }
    summary: str
    field_errors: dict[str, str] = {}
    try:
        data = RecordCreate.model_validate(
            {field: value.strip() for field, value in values.items() if value.strip()}
        )
        done = patients.register_record(session, settings, principal, data=data)
    except ValidationError as invalid:
        summary, field_errors = form_errors(invalid, RECORD_FIELDS)
    except YilianError as refused:
        summary = refused.message(current_language.get())
        if isinstance(refused, ResidentIdError):
            field_errors["id_number"] = summary
    else:
        flash(request, SENT_TO_REVIEW if done.reviews else REGISTERED[done.outcome])
        return RedirectResponse(f"/patients/{done.person.id}", status_code=303)
    session.rollback()
    # The refused registration leaves a trace too; the request still commits this record.
    audit.record(
        session, action="patient.register", outcome=AuditOutcome.FAILED,
        entity_type="patient_record", institution_id=principal.institution_id,
        detail={"fields": sorted(field_errors)},
    )
    return _record_form(request, session, principal, values, error=summary,
                        field_errors=field_errors, status_code=422)


# ---------------------------------------------------------------- review queue


@router.get("/reviews", response_class=HTMLResponse)
def review_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status: str | None = None,
    page: str | None = None,
) -> HTMLResponse:
    """Possible duplicates the user may decide, most probable first."""
    authorize(principal, Action.PATIENT_LINK)
    try:
        wanted = ReviewStatus(status) if status else ReviewStatus.OPEN
    except ValueError:
        wanted = ReviewStatus.OPEN
    number = page_number(page)
    items, total = merging.list_reviews(
        session, principal, status=wanted, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    ids = [r.institution_id for item in items for r in (item.record, item.candidate_record)]
    filters = {} if wanted is ReviewStatus.OPEN else {"status": wanted.value}
    return _page(request, session, "patients/reviews.html", {
        "reviews": items,
        "total": total,
        "pager": pager(request.url.path, filters, number, total),
        "status": wanted,
        "statuses": list(ReviewStatus),
        "institutions": registry.institutions_by_id(session, ids=ids),
    })


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
def review_detail(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    review_id: Key,
) -> HTMLResponse:
    """One possible duplicate: both records side by side, the evidence, and the decision."""
    authorize(principal, Action.PATIENT_LINK)
    review = merging.get_review_or_raise(session, principal, review_id=review_id)
    detail = review_detail_read(settings, review)
    institutions = registry.institutions_by_id(
        session, ids=(detail.record.institution_id, detail.candidate_record.institution_id)
    )
    return _page(request, session, "patients/review_detail.html", {
        "review": detail,
        "institutions": institutions,
    })


@router.post("/reviews/{review_id}/decision", response_class=HTMLResponse)
def review_decide(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    review_id: Key,
    same_person: Annotated[str, Form(pattern="^(true|false)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Settle the item: merge the two people, or record that they are different people."""
    authorize(principal, Action.PATIENT_LINK)
    review = merging.get_review_or_raise(session, principal, review_id=review_id)
    decided = merging.decide_review(
        session, settings, principal, review=review, same_person=same_person == "true",
        reason=reason.strip(),
    )
    if decided.status is ReviewStatus.DISTINCT:
        flash(request, N_("Recorded as different people; the item has left the queue."))
        return RedirectResponse("/patients/reviews", status_code=303)
    if decided.status is ReviewStatus.MERGED:
        flash(request, N_("Merged: both records now belong to one patient."))
    else:  # the two records had come together meanwhile
        flash(request, N_("Both records already belong to one patient; the item was closed."))
    return RedirectResponse(f"/patients/{decided.record.person_id}", status_code=303)


# ---------------------------------------------------------------- a person


@router.get("/{person_id}", response_class=HTMLResponse)
def person_detail(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    person_id: Key,
) -> Response:
    """A person: golden values, every source record, who else may see it, and its history."""
    authorize(principal, Action.PATIENT_READ)
    person = patients.get_person_or_raise(session, principal, person_id=person_id)
    if person.status is PersonStatus.MERGED:
        survivor = patients.current_person(session, person_id=person.id)
        if survivor is not None and survivor.id != person.id:
            return RedirectResponse(f"/patients/{survivor.id}", status_code=303)
    records = [record_read(settings, r) for r in patients.visible_records(principal, person)]
    shares = patients.list_shares(session, person=person)
    events = merging.history(session, person=person)
    institutions = registry.institutions_by_id(
        session, ids=[r.institution_id for r in records] + [s.institution_id for s in shares]
    )
    return _page(request, session, "patients/person.html", {
        "person": person,
        "records": records,
        "shares": shares,
        "events": events,
        "institutions": institutions,
        "may_steward": merging.may_steward(principal, person),
        # History names records by id; those shown on the page by their patient number.
        "local_ids": {r.id: r.local_id for r in records},
        "merged_kind": LinkEventKind.MERGED,
    })


@router.post("/records/{record_id}/detach", response_class=HTMLResponse)
def record_detach(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    record_id: Key,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
) -> Response:
    """Move a wrongly linked record out into a new person of its own."""
    authorize(principal, Action.PATIENT_LINK)
    record = patients.get_record_or_raise(session, principal, record_id=record_id)
    person_id = record.person_id
    merging.detach_record(session, settings, principal, record_id=record.id,
                          reason=reason.strip())
    flash(request, N_("The record was moved out into a new patient of its own."))
    return RedirectResponse(f"/patients/{person_id}", status_code=303)


@router.post("/merges/{event_id}/undo", response_class=HTMLResponse)
def merge_undo(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    event_id: Key,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
) -> Response:
    """Undo a merge: the records it moved go back to the person they came from."""
    authorize(principal, Action.PATIENT_LINK)
    event = merging.unmerge(session, settings, principal, merge_event_id=event_id,
                            reason=reason.strip())
    flash(request, N_("Merge undone: the records are back with the patient they came from."))
    return RedirectResponse(f"/patients/{event.person_id}", status_code=303)
