"""Settlement REST API: settle at discharge (2207), reverse (2208), estimate, pay, refund,
coverage, clearing. Thin routes: the rules live in service.py, permissions in the rule table."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from yilian.auth.permissions import Action, Principal
from yilian.deps import AppSettings, CurrentPrincipal, DbSession, RequirePermission
from yilian.schemas import Key
from yilian.settlement import clearing, coverage
from yilian.settlement import service as settlements
from yilian.settlement.models import Settlement, SettlementStatus
from yilian.settlement.schemas import (
    ClearingRow,
    CoverageRead,
    CoverageWrite,
    EstimateRead,
    EstimateRequest,
    PaymentCreate,
    PaymentRead,
    RefundCreate,
    RefundRead,
    ReverseRequest,
    SettlementRead,
    SettleRequest,
    engine_lines,
    slip_json,
)

router = APIRouter(prefix="/api/v1/settlement", tags=["settlement"])

Reader = Annotated[Principal, RequirePermission(Action.SETTLEMENT_READ)]
Clerk = Annotated[Principal, RequirePermission(Action.SETTLEMENT_SETTLE)]
Estimator = Annotated[Principal, RequirePermission(Action.SETTLEMENT_ESTIMATE)]
Payer = Annotated[Principal, RequirePermission(Action.SETTLEMENT_PAY)]
Clearer = Annotated[Principal, RequirePermission(Action.SETTLEMENT_CLEARING)]
CoverageWriter = Annotated[Principal, RequirePermission(Action.COVERAGE_WRITE)]


def _current_settlement(
    settlement_id: Key, session: DbSession, principal: Reader
) -> Settlement:
    return settlements.get_or_raise(session, principal, settlement_id=settlement_id)


CurrentSettlement = Annotated[Settlement, Depends(_current_settlement)]


def settlement_read(settlement: Settlement) -> SettlementRead:
    """A settlement as the API shows it."""
    return SettlementRead.model_validate(settlement)


@router.post("/settlements", response_model=SettlementRead, status_code=201)
def settle(
    data: SettleRequest, session: DbSession, principal: Clerk, settings: AppSettings,
    response: Response,
) -> SettlementRead:
    """Settle a bill at discharge; the same idempotency key answers the same slip (200)."""
    done = settlements.settle_bill(session, principal=principal, request=data,
                                   rules=settlements.rulebook(settings))
    if not done.created:
        response.status_code = 200
    return settlement_read(done.settlement)


@router.get("/settlements", response_model=list[SettlementRead])
def list_settlements(
    session: DbSession, principal: Reader,
    person_id: Annotated[Key | None, Query()] = None,
    status: Annotated[SettlementStatus | None, Query()] = None,
) -> list[SettlementRead]:
    """Settlements you may see, newest first."""
    rows = settlements.list_(session, principal=principal, person_id=person_id, status=status)
    return [settlement_read(row) for row in rows]


@router.get("/settlements/{settlement_id}", response_model=SettlementRead)
def read_settlement(settlement: CurrentSettlement) -> SettlementRead:
    """One settlement and its slip."""
    return settlement_read(settlement)


@router.post("/settlements/{settlement_id}/reversal", response_model=SettlementRead)
def reverse(
    data: ReverseRequest, settlement: CurrentSettlement, session: DbSession, principal: Clerk
) -> SettlementRead:
    """冲正 (2208) with a reason; the year-to-date accumulators are given back."""
    done = settlements.reverse(session, principal=principal, settlement=settlement,
                               reason=data.reason, note=data.note)
    return settlement_read(done)


@router.post("/settlements/{settlement_id}/payment", response_model=PaymentRead,
             status_code=201)
def pay(
    data: PaymentCreate, settlement: CurrentSettlement, session: DbSession, principal: Payer
) -> PaymentRead:
    """Record the patient's payment of their cash share and issue the receipt."""
    payment = settlements.pay(session, principal=principal, settlement=settlement,
                              method=data.method)
    return PaymentRead.model_validate(payment)


@router.post("/settlements/{settlement_id}/refund", response_model=RefundRead,
             status_code=201)
def refund(
    data: RefundCreate, settlement: CurrentSettlement, session: DbSession, principal: Clerk
) -> RefundRead:
    """退费: give back the patient's payment of a reversed settlement, against its receipt."""
    done = settlements.refund(session, principal=principal, settlement=settlement,
                              method=data.method, note=data.note)
    return RefundRead.model_validate(done)


@router.post("/estimates", response_model=EstimateRead)
def estimate(
    data: EstimateRequest, session: DbSession, principal: Estimator, settings: AppSettings
) -> EstimateRead:
    """What a planned bill would settle as (nothing is stored)."""
    settlements.check_estimate(session, principal=principal, person_id=data.person_id)
    slip = settlements.estimate(session, person_id=data.person_id,
                                institution_id=data.institution_id,
                                lines=engine_lines(data.lines), filing=data.filing,
                                on_date=data.on_date, rules=settlements.rulebook(settings))
    return EstimateRead(slip=slip_json(slip))


@router.get("/coverage/{person_id}", response_model=CoverageRead)
def read_coverage(
    person_id: Key, session: DbSession, principal: Reader,
    treatment_region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    on_date: Annotated[date | None, Query()] = None,
) -> CoverageRead:
    """A person's insurance and the filing status that counts where they are treated."""
    return settlements.coverage_read(session, principal=principal, person_id=person_id,
                                     treatment_region=treatment_region, on_date=on_date)


@router.put("/coverage/{person_id}", response_model=CoverageRead)
def write_coverage(
    person_id: Key, data: CoverageWrite, session: DbSession, principal: CoverageWriter
) -> CoverageRead:
    """Record a person's insurance card and filing."""
    settlements.check_person(session, principal, person_id)
    coverage.set_coverage(session, person_id=person_id, **data.model_dump())
    return settlements.coverage_read(session, principal=principal, person_id=person_id)


@router.get("/clearing", response_model=list[ClearingRow])
def clearing_report(
    session: DbSession, principal: Clearer,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    insured_region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> list[ClearingRow]:
    """清算: what each insured region's fund owes each treatment institution for a month."""
    return clearing.report(session, principal=principal, month=month,
                           insured_region=insured_region)


@router.get("/clearing.{fmt}")
def clearing_export(
    fmt: clearing.ExportFormat, session: DbSession, principal: Clearer,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    insured_region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> Response:
    """The clearing report as CSV or XLSX."""
    rows = clearing.report(session, principal=principal, month=month,
                           insured_region=insured_region)
    body, media_type = clearing.export(rows, fmt)
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="clearing-{month}.{fmt.value}"'})


__all__ = ["CurrentPrincipal", "router"]
