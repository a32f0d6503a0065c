"""Settlement pages: the clerk's discharge settlement (bill lines, slip preview via htmx,
settle, printable slip in Chinese), reversal with a reason, the patient's own settlements
with self-payment and receipt, and the clearing report."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.deps import AppSettings, CurrentPrincipal, DbSession
from yilian.errors import InvalidInput, YilianError
from yilian.patients import service as patients
from yilian.portal.pages import N_, flash, form_errors, render_page
from yilian.registry import service as registry
from yilian.schemas import Key
from yilian.settlement import clearing, engine, labels
from yilian.settlement import service as settlements
from yilian.settlement.catalogue import find_catalogue
from yilian.settlement.models import PaymentMethod, ReversalReason, Settlement
from yilian.settlement.schemas import SettleRequest, slip_json
from yilian.webui import current_language

router = APIRouter(prefix="/settlement", include_in_schema=False)
LINE_ROWS = 10
FORM_FIELDS = {
    "person_id": N_("Patient number"),
    "admission_date": N_("Admission date"),
    "discharge_date": N_("Discharge date"),
    "lines": N_("Bill lines"),
    "filing": N_("Filing status"),
    "idempotency_key": N_("Settlement number"),
}
Text = Annotated[str, Form(max_length=64)]
Column = Annotated[list[str], Form()]


def _page(request: Request, session: Session, template: str, context: dict[str, Any],
          *, status_code: int = 200) -> HTMLResponse:
    helpers = labels.template_helpers(current_language.get())
    return render_page(request, session, template, {**helpers, **context},
                       status_code=status_code)


def _catalogue_items(request: Request, principal: Principal,
                     session: Session) -> list[engine.CatalogueItem]:
    if principal.institution_id is None:
        return []
    institution = registry.get_institution(session, institution_id=principal.institution_id)
    if institution is None:
        return []
    book = settlements.rulebook(request.app.state.settings)
    try:
        catalogue = find_catalogue(book.catalogues, treatment_region=institution.region_code)
    except YilianError:
        return []
    return sorted(catalogue.items.values(), key=lambda item: item.code)


def _lines(codes: list[str], qtys: list[str], prices: list[str]) -> list[dict[str, str]]:
    rows = []
    for code, qty, price in zip(codes, qtys, prices, strict=False):
        if code.strip() or qty.strip() or price.strip():
            rows.append({"code": code.strip(), "qty": qty.strip(), "unit_price": price.strip()})
    return rows


def _request_of(
    session: Session, principal: Principal, values: dict[str, Any]
) -> SettleRequest:
    """The settlement request a form describes; the patient is found by patient number."""
    institution_id = principal.institution_id
    record = None
    if institution_id is not None and values["local_id"]:
        record = patients.get_record_by_local_id(session, institution_id=institution_id,
                                                 local_id=values["local_id"])
    if record is None or institution_id is None:
        raise InvalidInput("patient_number_unknown",
                           f"本院无此患者编号：{values['local_id']}",
                           f"No patient with number {values['local_id']} here")
    return SettleRequest.model_validate({
        "idempotency_key": values["idempotency_key"], "person_id": record.person_id,
        "institution_id": institution_id, "admission_date": values["admission_date"],
        "discharge_date": values["discharge_date"], "lines": values["lines"],
        "filing": values["filing"] or None,
    })


def _form_values(local_id: str, admission_date: str, discharge_date: str, filing: str,
                 idempotency_key: str, code: list[str], qty: list[str],
                 unit_price: list[str]) -> dict[str, Any]:
    return {"local_id": local_id.strip(), "admission_date": admission_date,
            "discharge_date": discharge_date, "filing": filing,
            "idempotency_key": idempotency_key, "lines": _lines(code, qty, unit_price)}


def _form(request: Request, session: Session, principal: Principal, values: dict[str, Any],
          *, error: str = "", status_code: int = 200) -> HTMLResponse:
    rows = [*values["lines"]]
    rows += [{"code": "", "qty": "", "unit_price": ""}] * max(0, LINE_ROWS - len(rows))
    return _page(request, session, "settlement/settle_form.html", {
        "values": values, "rows": rows, "error": error,
        "items": _catalogue_items(request, principal, session),
        "filings": list(engine.Filing),
    }, status_code=status_code)


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        summary, _ = form_errors(error, FORM_FIELDS)
        return summary
    assert isinstance(error, YilianError)
    return error.message(current_language.get())


# ---------------------------------------------------------------- clerk: settle


@router.get("", response_class=HTMLResponse)
def index(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """Recent settlements of the user's institutions (a patient: their own)."""
    authorize(principal, Action.SETTLEMENT_READ)
    if principal.role is Role.PATIENT:
        return RedirectResponse("/settlement/mine", status_code=303)
    rows = settlements.list_(session, principal=principal, limit=50)
    return _page(request, session, "settlement/index.html", {"rows": rows})


@router.get("/new", response_class=HTMLResponse)
def settle_form(request: Request, session: DbSession, principal: CurrentPrincipal,
                local_id: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    """The discharge-settlement form, with a fresh settlement number (idempotency key)."""
    authorize(principal, Action.SETTLEMENT_SETTLE)
    today = date.today().isoformat()
    values = _form_values(local_id, today, today, "", f"WEB-{uuid.uuid4().hex[:20]}",
                          [], [], [])
    return _form(request, session, principal, values)


@router.post("/preview", response_class=HTMLResponse)
def preview(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    local_id: Text = "", admission_date: Text = "", discharge_date: Text = "",
    filing: Text = "", idempotency_key: Text = "",
    code: Column = [], qty: Column = [], unit_price: Column = [],  # noqa: B006
) -> HTMLResponse:
    """The slip the bill would give (htmx fragment); nothing is stored."""
    authorize(principal, Action.SETTLEMENT_SETTLE)
    values = _form_values(local_id, admission_date, discharge_date, filing, idempotency_key,
                          code, qty, unit_price)
    try:
        wanted = _request_of(session, principal, values)
        slip = settlements.estimate(
            session, person_id=wanted.person_id, institution_id=wanted.institution_id,
            lines=[engine.BillLine(x.code, x.qty, x.unit_price) for x in wanted.lines],
            filing=wanted.filing, on_date=wanted.discharge_date,
            rules=settlements.rulebook(settings))
    except (ValidationError, YilianError) as error:
        return _page(request, session, "settlement/_preview.html", {"error": _error_text(error)})
    return _page(request, session, "settlement/_preview.html", {"slip": slip_json(slip)})


@router.post("/new", response_class=HTMLResponse)
def settle(
    request: Request, session: DbSession, principal: CurrentPrincipal, settings: AppSettings,
    local_id: Text = "", admission_date: Text = "", discharge_date: Text = "",
    filing: Text = "", idempotency_key: Text = "",
    code: Column = [], qty: Column = [], unit_price: Column = [],  # noqa: B006
) -> Response:
    """Settle the bill (a double submit returns the same settlement) and show the slip."""
    authorize(principal, Action.SETTLEMENT_SETTLE)
    values = _form_values(local_id, admission_date, discharge_date, filing, idempotency_key,
                          code, qty, unit_price)
    try:
        with session.begin_nested():
            done = settlements.settle_bill(session, principal=principal,
                                           request=_request_of(session, principal, values),
                                           rules=settlements.rulebook(settings))
    except (ValidationError, YilianError) as error:
        return _form(request, session, principal, values, error=_error_text(error),
                     status_code=422)
    flash(request, N_("Settled. Print the slip for the patient."))
    return RedirectResponse(f"/settlement/{done.settlement.id}", status_code=303)


# ---------------------------------------------------------------- the slip


def _slip_page(request: Request, session: Session, principal: Principal,
               settlement: Settlement, *, error: str = "", status_code: int = 200) -> HTMLResponse:
    person = patients.current_person(session, person_id=settlement.person_id)
    institution = registry.get_institution(session, institution_id=settlement.institution_id)
    return _page(request, session, "settlement/slip.html", {
        "s": settlement, "slip": settlement.slip, "person": person, "institution": institution,
        "payment": settlements.payment_of(session, settlement_id=settlement.id),
        "refund": settlements.refund_of(session, settlement_id=settlement.id),
        "history": settlements.history(session, settlement_id=settlement.id),
        "reasons": list(ReversalReason), "error": error,
        "is_patient": principal.role is Role.PATIENT,
    }, status_code=status_code)


@router.get("/mine", response_class=HTMLResponse)
def mine(request: Request, session: DbSession, principal: CurrentPrincipal) -> HTMLResponse:
    """The signed-in patient's settlements: what they owe, what they paid."""
    authorize(principal, Action.SETTLEMENT_READ)
    rows = settlements.list_(session, principal=principal, person_id=principal.person_id)
    if principal.role is not Role.PATIENT:
        rows = []
    owed = sum((row.psn_cash_pay for row in rows
                if row.paid_at is None and row.status.value == "settled"), Decimal("0.00"))
    refunds = settlements.refunds_of(session, settlement_ids=[row.id for row in rows])
    due = sum((row.psn_cash_pay for row in rows if row.paid_at is not None
               and row.status.value == "reversed" and row.id not in refunds), Decimal("0.00"))
    return _page(request, session, "settlement/mine.html", {
        "rows": rows, "owed": owed, "refunds": refunds, "refund_due": due})


@router.get("/clearing", response_class=HTMLResponse)
def clearing_page(request: Request, session: DbSession, principal: CurrentPrincipal,
                  month: Annotated[str, Query(pattern=r"^(\d{4}-\d{2})?$")] = "",
                  insured_region: Annotated[str, Query(pattern=r"^(\d{6})?$")] = ""
                  ) -> HTMLResponse:
    """清算 report: what each fund owes each institution for a month."""
    authorize(principal, Action.SETTLEMENT_CLEARING)
    month = month or f"{date.today():%Y-%m}"
    rows = clearing.report(session, principal=principal, month=month,
                           insured_region=insured_region or None)
    totals = {key: sum((getattr(row, key) for row in rows), Decimal("0.00"))
              for key in clearing.AMOUNTS}
    return _page(request, session, "settlement/clearing.html", {
        "rows": rows, "month": month, "insured_region": insured_region, "totals": totals,
        "count": sum(row.settlements for row in rows),
    })


@router.get("/{settlement_id}", response_class=HTMLResponse)
def slip_page(request: Request, session: DbSession, principal: CurrentPrincipal,
              settlement_id: Key) -> HTMLResponse:
    """The slip, printable (Chinese first), with reversal or payment as the user may."""
    authorize(principal, Action.SETTLEMENT_READ)
    found = settlements.get_or_raise(session, principal, settlement_id=settlement_id)
    return _slip_page(request, session, principal, found)


@router.post("/{settlement_id}/reverse", response_class=HTMLResponse)
def reverse(request: Request, session: DbSession, principal: CurrentPrincipal,
            settlement_id: Key, reason: Annotated[str, Form(max_length=32)] = "",
            note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """冲正 with a reason."""
    authorize(principal, Action.SETTLEMENT_SETTLE)
    found = settlements.get_or_raise(session, principal, settlement_id=settlement_id)
    try:
        chosen = ReversalReason(reason)
    except ValueError:
        return _slip_page(request, session, principal, found, status_code=422,
                          error=labels.gettext(N_("Choose a reason for the reversal.")))
    try:
        with session.begin_nested():
            settlements.reverse(session, principal=principal, settlement=found,
                                reason=chosen, note=note)
    except YilianError as error:
        return _slip_page(request, session, principal, found, status_code=error.status_code,
                          error=error.message(current_language.get()))
    flash(request, N_("Settlement reversed; the year-to-date totals were given back."))
    return RedirectResponse(f"/settlement/{settlement_id}", status_code=303)


@router.post("/{settlement_id}/refund", response_class=HTMLResponse)
def refund(request: Request, session: DbSession, principal: CurrentPrincipal,
           settlement_id: Key, note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """退费 of a reversed settlement's payment, at the cashier."""
    authorize(principal, Action.SETTLEMENT_SETTLE)
    found = settlements.get_or_raise(session, principal, settlement_id=settlement_id)
    try:
        with session.begin_nested():
            settlements.refund(session, principal=principal, settlement=found,
                               method=PaymentMethod.CASHIER, note=note)
    except YilianError as error:
        return _slip_page(request, session, principal, found, status_code=error.status_code,
                          error=error.message(current_language.get()))
    flash(request, N_("Refund recorded against the receipt."))
    return RedirectResponse(f"/settlement/{settlement_id}", status_code=303)


@router.post("/{settlement_id}/pay", response_class=HTMLResponse)
def pay(request: Request, session: DbSession, principal: CurrentPrincipal,
        settlement_id: Key) -> Response:
    """自助缴费: record the patient's payment and show the receipt."""
    authorize(principal, Action.SETTLEMENT_PAY)
    found = settlements.get_or_raise(session, principal, settlement_id=settlement_id)
    try:
        with session.begin_nested():
            settlements.pay(session, principal=principal, settlement=found,
                            method=PaymentMethod.SELF_SERVICE)
    except YilianError as error:
        return _slip_page(request, session, principal, found, status_code=error.status_code,
                          error=error.message(current_language.get()))
    flash(request, N_("Payment recorded. Your receipt is below."))
    return RedirectResponse(f"/settlement/{settlement_id}", status_code=303)
