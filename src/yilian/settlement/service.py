"""Settlement at discharge (2207), reversal (2208), estimates, payments: the rules, no HTTP.

Concurrency: a settlement first locks its person-year accumulator row (an UPDATE, which also
takes SQLite's write lock before anything is read, then ``SELECT … FOR UPDATE``), so two
settlements of one person queue and the second sees what the first paid: the annual cap
holds. The idempotency key is checked again under that lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Action, Principal, authorize
from yilian.config import Settings
from yilian.db import utcnow
from yilian.errors import Conflict, InvalidInput, NotFound
from yilian.fhir.dates import CHINA_STANDARD_TIME
from yilian.patients import service as patients
from yilian.registry.models import Institution
from yilian.settlement import coverage, engine
from yilian.settlement.catalogue import PACKAGED_CATALOGUES, find_catalogue, load_catalogues
from yilian.settlement.models import (
    Accumulator,
    Payment,
    PaymentMethod,
    Refund,
    ReversalReason,
    Settlement,
    SettlementEvent,
    SettlementEventKind,
    SettlementStatus,
)
from yilian.settlement.policy import PACKAGED_POLICIES, find_policy, load_policies
from yilian.settlement.schemas import CoverageRead, SettleRequest, slip_json

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Rulebook:
    """The policies and catalogues settlements are computed with."""

    policies: tuple[engine.Policy, ...]
    catalogues: tuple[engine.Catalogue, ...]


def rulebook(settings: Settings | None = None) -> Rulebook:
    """The configured folders' policies and catalogues (the shipped ones when unset)."""
    policy_dir: Path = (settings and settings.settlement_policy_dir) or PACKAGED_POLICIES
    catalogue_dir: Path = (settings and settings.settlement_catalogue_dir) or PACKAGED_CATALOGUES
    return Rulebook(load_policies(policy_dir), load_catalogues(catalogue_dir))


# ---------------------------------------------------------------- shared steps


def _institution(session: Session, institution_id: int) -> Institution:
    # Its emergency centres are not part of a bill: read them only if something asks.
    found = session.get(Institution, institution_id, options=[lazyload(Institution.centres)])
    if found is None:
        raise NotFound("医疗机构", "Institution", institution_id)
    return found


def check_person(session: Session, principal: Principal, person_id: int) -> None:
    """404 unless the principal may see the person (a patient: only themself); audited."""
    if principal.role is Role.PATIENT:
        if principal.person_id != person_id:
            raise NotFound("患者", "Patient", person_id)
        # A patient reading their own coverage or estimate is a read of patient data too.
        audit.record(session, action="settlement.person.read", entity_type="person",
                     entity_id=str(person_id), patient_id=person_id)
        return
    patients.get_person_or_raise(session, principal, person_id=person_id,
                                 purpose="settlement.person.read")


def _year_to_date(row: Accumulator | None) -> engine.YearToDate:
    if row is None:
        return engine.YearToDate()
    return engine.YearToDate(row.hifp_pay, row.admissions, row.hifmi_pay, row.hifmi_base,
                             row.maf_pay)


def _accumulator(session: Session, *, person_id: int, year: int) -> Accumulator | None:
    return session.scalars(select(Accumulator).where(
        Accumulator.person_id == person_id, Accumulator.year == year)).first()


def lock_accumulator(session: Session, *, person_id: int, year: int) -> Accumulator:
    """The person-year accumulator, created when missing, locked until the transaction ends."""
    # One statement that takes the row's write lock (on SQLite too, where it is the first
    # write of the transaction) and reads the row as it is under that lock.
    lock = (update(Accumulator)
            .where(Accumulator.person_id == person_id, Accumulator.year == year)
            .values(updated_at=utcnow()).returning(Accumulator)
            .execution_options(populate_existing=True))
    row = session.scalars(lock).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(Accumulator(person_id=person_id, year=year))
    except IntegrityError:  # created meanwhile by a concurrent settlement: lock that one
        pass
    return session.scalars(lock).one()


def compute_slip(
    session: Session,
    *,
    person_id: int,
    institution: Institution,
    lines: Sequence[engine.BillLine],
    on_date: date,
    admission_date: date,
    filing: engine.Filing | None,
    year_to_date: engine.YearToDate,
    consortium_deductible_paid: Decimal = ZERO,
    rules: Rulebook | None = None,
) -> tuple[engine.Slip, coverage.Insurance]:
    """The slip of a bill for a person at an institution: their policy, its catalogue."""
    book = rules or rulebook()
    insurance = coverage.insurance_of(session, person_id=person_id)
    treatment_region = institution.region_code
    policy = find_policy(book.policies, insured_region=insurance.insured_region_code,
                         scheme=insurance.scheme, on_date=on_date)
    catalogue = find_catalogue(book.catalogues, treatment_region=treatment_region)
    bill = engine.Bill(
        insured_region=insurance.insured_region_code,
        scheme=insurance.scheme,
        filing=coverage.effective_filing(insurance, treatment_region=treatment_region,
                                         on_date=on_date, stated=filing),
        institution_level=institution.level,
        treatment_region=treatment_region,
        admission_date=admission_date,
        lines=tuple(lines),
        year_to_date=year_to_date,
        consortium_deductible_paid=consortium_deductible_paid,
        assistance=insurance.assistance,
    )
    return engine.settle(policy=policy, catalogue=catalogue, bill=bill), insurance


def bill_hash(request: SettleRequest) -> str:
    """A fingerprint of what was asked, so a reused idempotency key with another bill is seen."""
    # A bill without a diagnosis hashes as it did before the field existed.
    left_out = {"idempotency_key"} | ({"dise_codg"} if request.dise_codg is None else set())
    shown = request.model_dump(mode="json", exclude=left_out)
    shown["lines"] = [[line.code, format(line.qty.normalize(), "f"),
                       format(line.unit_price.normalize(), "f")] for line in request.lines]
    shown["consortium_deductible_paid"] = format(
        request.consortium_deductible_paid.normalize(), "f")
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


def by_key(session: Session, key: str) -> Settlement | None:
    return session.scalars(select(Settlement).where(Settlement.idempotency_key == key)
                           .execution_options(populate_existing=True)).first()


@dataclass(frozen=True)
class Settled:
    """A settlement, and whether this request made it (False: a replay of the same key)."""

    settlement: Settlement
    created: bool


def _replay(found: Settlement, fingerprint: str) -> Settled:
    if found.bill_hash != fingerprint:
        raise Conflict("idempotency_key_reused",
                       f"幂等键 {found.idempotency_key} 已用于另一张账单",
                       f"Idempotency key {found.idempotency_key} was used for another bill")
    return Settled(found, created=False)


# ---------------------------------------------------------------- verbs


def estimate(
    session: Session,
    *,
    person_id: int,
    institution_id: int,
    lines: Sequence[engine.BillLine],
    filing: engine.Filing | None = None,
    on_date: date,
    rules: Rulebook | None = None,
) -> engine.Slip:
    """What a planned bill would settle as today (predetermination): nothing is stored.

    The where-to-go advisor calls this for each candidate institution.
    """
    institution = _institution(session, institution_id)
    year_to_date = _year_to_date(_accumulator(session, person_id=person_id, year=on_date.year))
    slip, _ = compute_slip(session, person_id=person_id, institution=institution, lines=lines,
                           on_date=on_date, admission_date=on_date, filing=filing,
                           year_to_date=year_to_date, rules=rules)
    return slip


TYPICAL_BILLS_READ = 201  # the latest settled bills a typical bill is the median of


@dataclass(frozen=True)
class TypicalBill:
    """The median settled bill of a diagnosis group at some institutions: its lines, the
    settlement it is, and how many bills it is the median of."""

    lines: tuple[engine.BillLine, ...]
    medfee_sumamt: Decimal
    settlement_id: int
    institution_id: int
    bills: int


def typical_bill(
    session: Session, *, institution_ids: Sequence[int], diagnosis_group: str,
    limit: int = TYPICAL_BILLS_READ,
) -> TypicalBill | None:
    """The median by total (the lower one: always a real bill) of the latest settled bills at
    these institutions whose discharge diagnosis (2207 dise_codg) is in the ICD-10 category
    ``diagnosis_group`` (``I25``); None when there is none. Nothing about the patients is read."""
    if not institution_ids:
        return None
    rows = session.execute(
        select(Settlement.id, Settlement.medfee_sumamt)
        .where(Settlement.institution_id.in_(sorted(set(institution_ids))),
               Settlement.status == SettlementStatus.SETTLED,
               Settlement.dise_codg.startswith(diagnosis_group, autoescape=True))
        .order_by(Settlement.discharge_date.desc(), Settlement.id.desc()).limit(limit)
    ).all()
    if not rows:
        return None
    ordered = sorted(rows, key=lambda row: (row.medfee_sumamt, row.id))
    median = session.get(Settlement, ordered[(len(ordered) - 1) // 2].id)
    assert median is not None
    lines = tuple(engine.BillLine(line["code"], Decimal(str(line["qty"])),
                                  Decimal(str(line["unit_price"])))
                  for line in median.bill["lines"])
    return TypicalBill(lines, median.medfee_sumamt, median.id, median.institution_id, len(rows))


def settle_bill(
    session: Session, *, principal: Principal, request: SettleRequest,
    rules: Rulebook | None = None,
) -> Settled:
    """Settle an inpatient bill at discharge; the same idempotency key returns the same one."""
    authorize(principal, Action.SETTLEMENT_SETTLE, [request.institution_id])
    fingerprint = bill_hash(request)
    if request.discharge_date < request.admission_date:
        raise InvalidInput("discharge_before_admission", "出院日期早于入院日期",
                           "The discharge date is before the admission date")
    check_person(session, principal, request.person_id)
    institution = _institution(session, request.institution_id)
    year = request.discharge_date.year
    accumulator = lock_accumulator(session, person_id=request.person_id, year=year)
    # Asked only now, under the person-year lock: a replay, or a twin request that settled
    # the same key meanwhile, is found here and returned instead of settling twice.
    found = by_key(session, request.idempotency_key)
    if found is not None:
        return _replay(found, fingerprint)
    slip, insurance = compute_slip(
        session, person_id=request.person_id, institution=institution,
        lines=[engine.BillLine(line.code, line.qty, line.unit_price) for line in request.lines],
        on_date=request.discharge_date, admission_date=request.admission_date,
        filing=request.filing, year_to_date=_year_to_date(accumulator),
        consortium_deductible_paid=request.consortium_deductible_paid, rules=rules,
    )
    accumulator.hifp_pay += slip.hifp_pay
    accumulator.hifmi_pay += slip.hifmi_pay
    accumulator.hifmi_base += slip.hifmi_base
    accumulator.maf_pay += slip.maf_pay
    accumulator.admissions += 1
    settlement = Settlement(
        idempotency_key=request.idempotency_key, bill_hash=fingerprint,
        person_id=request.person_id, institution_id=institution.id,
        status=SettlementStatus.SETTLED, insured_region_code=insurance.insured_region_code,
        fund_region_code=slip.fund_region,
        treatment_region_code=institution.region_code, scheme=insurance.scheme,
        filing=slip.filing, dise_codg=request.dise_codg, admission_date=request.admission_date,
        discharge_date=request.discharge_date, year=year,
        settled_month=f"{request.discharge_date:%Y-%m}",
        policy_version=slip.policy_version, catalogue_version=slip.catalogue_version,
        medfee_sumamt=slip.medfee_sumamt, hifp_pay=slip.hifp_pay, hifmi_pay=slip.hifmi_pay,
        hifmi_base=slip.hifmi_base, maf_pay=slip.maf_pay, fund_pay_sumamt=slip.fund_pay_sumamt,
        psn_part_amt=slip.psn_part_amt, acct_pay=slip.acct_pay, psn_cash_pay=slip.psn_cash_pay,
        bill=request.model_dump(mode="json"), slip=slip_json(slip),
        settled_by=principal.username,
    )
    session.add(settlement)
    session.add(SettlementEvent(
        settlement=settlement, kind=SettlementEventKind.SETTLED,
        hifp_pay_change=slip.hifp_pay, hifmi_pay_change=slip.hifmi_pay,
        maf_pay_change=slip.maf_pay, admissions_change=1,
        actor=principal.username,
    ))
    session.flush()
    _audit(session, "settlement.settle", settlement)
    return Settled(settlement, created=True)


def _audit(session: Session, action: str, settlement: Settlement) -> None:
    audit.record(session, action=action, entity_type="settlement", entity_id=str(settlement.id),
                 institution_id=settlement.institution_id, patient_id=settlement.person_id)


def get_or_raise(session: Session, principal: Principal, *, settlement_id: int) -> Settlement:
    """A settlement the principal may see (404 otherwise); the read is audited."""
    found = session.get(Settlement, settlement_id)
    if found is None or not can_see(principal, found):
        raise NotFound("结算单", "Settlement", settlement_id)
    _audit(session, "settlement.read", found)
    return found


def can_see(principal: Principal, settlement: Settlement) -> bool:
    """Staff of the treating institution, network roles, and the patient themself."""
    if principal.role is Role.PATIENT:
        return principal.person_id == settlement.person_id
    if principal.is_network_wide:
        return principal.role is Role.PLATFORM_ADMIN
    return settlement.institution_id in principal.institution_ids


def list_(
    session: Session, *, principal: Principal, person_id: int | None = None,
    status: SettlementStatus | None = None, limit: int = 50,
) -> list[Settlement]:
    """Settlements the principal may see, newest first; audited."""
    statement = select(Settlement).order_by(Settlement.id.desc()).limit(limit)
    if principal.role is Role.PATIENT:
        statement = statement.where(Settlement.person_id == (principal.person_id or -1))
    elif principal.role is not Role.PLATFORM_ADMIN:
        statement = statement.where(Settlement.institution_id.in_(principal.institution_ids))
    if person_id is not None:
        statement = statement.where(Settlement.person_id == person_id)
    if status is not None:
        statement = statement.where(Settlement.status == status)
    rows = list(session.scalars(statement))
    audit.record(session, action="settlement.list", entity_type="settlement",
                 institution_id=principal.institution_id, patient_id=person_id,
                 detail={"ids": [row.id for row in rows]})
    return rows


def reverse(
    session: Session, *, principal: Principal, settlement: Settlement,
    reason: ReversalReason, note: str = "",
) -> Settlement:
    """冲正 (2208): undo a settlement and give back what it took from the accumulators."""
    authorize(principal, Action.SETTLEMENT_SETTLE, [settlement.institution_id])
    if reason is ReversalReason.OTHER and not note.strip():
        raise InvalidInput("reason_note_required", "冲正原因为“其他”时须填写说明",
                           "A reversal for another reason needs a note")
    accumulator = lock_accumulator(session, person_id=settlement.person_id, year=settlement.year)
    session.refresh(settlement)
    if settlement.status is not SettlementStatus.SETTLED:
        raise Conflict("already_reversed", f"结算单 {settlement.id} 已冲正",
                       f"Settlement {settlement.id} is already reversed")
    # A paid settlement may be reversed too: the patient's payment is then refunded (refund).
    accumulator.hifp_pay -= settlement.hifp_pay
    accumulator.hifmi_pay -= settlement.hifmi_pay
    accumulator.hifmi_base -= settlement.hifmi_base
    accumulator.maf_pay -= settlement.maf_pay
    accumulator.admissions -= 1
    settlement.status = SettlementStatus.REVERSED
    settlement.reversed_at = utcnow()
    # The clearing month of the reversal (China time, never before the settlement's own): a
    # later month's clearing takes the money back; the earlier, perhaps paid, stays as it was.
    settlement.reversed_month = max(
        f"{settlement.reversed_at.astimezone(CHINA_STANDARD_TIME):%Y-%m}",
        settlement.settled_month)
    settlement.reversal_reason = reason
    session.add(SettlementEvent(
        settlement_id=settlement.id, kind=SettlementEventKind.REVERSED,
        hifp_pay_change=-settlement.hifp_pay, hifmi_pay_change=-settlement.hifmi_pay,
        maf_pay_change=-settlement.maf_pay,
        admissions_change=-1, reason=reason, note=note.strip(), actor=principal.username,
    ))
    session.flush()
    _audit(session, "settlement.reverse", settlement)
    return settlement


def pay(
    session: Session, *, principal: Principal, settlement: Settlement,
    method: PaymentMethod = PaymentMethod.SELF_SERVICE,
) -> Payment:
    """The patient pays their cash share 自助缴费: record it and issue a receipt (no gateway)."""
    if principal.role is Role.PATIENT:
        if principal.person_id != settlement.person_id:
            raise NotFound("结算单", "Settlement", settlement.id)
    else:
        authorize(principal, Action.SETTLEMENT_PAY, [settlement.institution_id])
    if settlement.status is not SettlementStatus.SETTLED:
        raise Conflict("reversed", "结算单已冲正，无需缴费", "The settlement was reversed")
    if settlement.paid_at is not None:
        raise Conflict("already_paid", "该结算单已缴费", "This settlement is already paid")
    paid_at = utcnow()
    payment = Payment(settlement_id=settlement.id, receipt_no=f"R{paid_at:%Y%m}{settlement.id:08d}",
                      amount=settlement.psn_cash_pay, method=method, paid_at=paid_at,
                      paid_by=principal.username)
    settlement.paid_at = paid_at
    session.add(payment)
    session.add(SettlementEvent(settlement_id=settlement.id, kind=SettlementEventKind.PAID,
                                actor=principal.username))
    session.flush()
    _audit(session, "settlement.pay", settlement)
    return payment


def refund(
    session: Session, *, principal: Principal, settlement: Settlement,
    method: PaymentMethod = PaymentMethod.CASHIER, note: str = "",
) -> Refund:
    """退费: give back the patient's cash payment of a reversed settlement, recorded against
    its receipt (no outside gateway); once per receipt."""
    authorize(principal, Action.SETTLEMENT_SETTLE, [settlement.institution_id])
    if settlement.status is not SettlementStatus.REVERSED:
        raise Conflict("not_reversed", "结算单未冲正，不能退费（须先冲正）",
                       "Only a reversed settlement's payment is refunded (reverse it first)")
    payment = payment_of(session, settlement_id=settlement.id)
    if payment is None:
        raise Conflict("not_paid", "该结算单患者未缴费，无需退费",
                       "The patient did not pay this settlement: nothing to refund")
    if refund_of(session, settlement_id=settlement.id) is not None:
        raise Conflict("already_refunded", f"收据 {payment.receipt_no} 已退费",
                       f"Receipt {payment.receipt_no} is already refunded")
    refunded_at = utcnow()
    row = Refund(payment_id=payment.id, settlement_id=settlement.id,
                 refund_no=f"T{refunded_at:%Y%m}{settlement.id:08d}", amount=payment.amount,
                 method=method, note=note.strip(), refunded_at=refunded_at,
                 refunded_by=principal.username)
    try:
        with session.begin_nested():  # a twin request refunded it meanwhile: one refund only
            session.add(row)
    except IntegrityError:
        raise Conflict("already_refunded", f"收据 {payment.receipt_no} 已退费",
                       f"Receipt {payment.receipt_no} is already refunded") from None
    _audit(session, "settlement.refund", settlement)
    return row


def refund_of(session: Session, *, settlement_id: int) -> Refund | None:
    """The refund of a settlement's payment, if made."""
    return session.scalars(select(Refund).where(Refund.settlement_id == settlement_id)).first()


def refunds_of(session: Session, *, settlement_ids: Sequence[int]) -> dict[int, Refund]:
    """The refunds of several settlements, by settlement id."""
    if not settlement_ids:
        return {}
    rows = session.scalars(select(Refund).where(Refund.settlement_id.in_(settlement_ids)))
    return {row.settlement_id: row for row in rows}


def payment_of(session: Session, *, settlement_id: int) -> Payment | None:
    """The receipt of a settlement, if paid."""
    return session.scalars(select(Payment).where(Payment.settlement_id == settlement_id)).first()


def history(session: Session, *, settlement_id: int) -> list[SettlementEvent]:
    """A settlement's history, oldest first."""
    return list(session.scalars(select(SettlementEvent)
                                .where(SettlementEvent.settlement_id == settlement_id)
                                .order_by(SettlementEvent.id)))


def check_estimate(session: Session, *, principal: Principal, person_id: int) -> None:
    """404 unless the principal may see the person an estimate is for (a patient: themself)."""
    check_person(session, principal, person_id)


def coverage_read(
    session: Session, *, principal: Principal, person_id: int,
    treatment_region: str | None = None, on_date: date | None = None,
) -> CoverageRead:
    """A person's insurance, and the filing that counts at a treatment place on a date."""
    check_person(session, principal, person_id)
    insurance = coverage.insurance_of(session, person_id=person_id)
    where = treatment_region or insurance.insured_region_code
    return CoverageRead(
        person_id=person_id, insured_region_code=insurance.insured_region_code,
        scheme=insurance.scheme, card_number=insurance.card_number, filing=insurance.filing,
        effective_filing=coverage.effective_filing(
            insurance, treatment_region=where, on_date=on_date or utcnow().date()),
        assistance=insurance.assistance,
    )


def year_to_date(session: Session, *, person_id: int, year: int) -> engine.YearToDate:
    """A person's accumulators for a year."""
    return _year_to_date(_accumulator(session, person_id=person_id, year=year))


def slip_of(settlement: Settlement) -> dict[str, Any]:
    """The stored slip, as it was when settled."""
    return settlement.slip
