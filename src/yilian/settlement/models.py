"""Settlement tables: coverage, settlements with their slips, history, accumulators, payments.

Money is ``Numeric(14, 2)``. A settlement is never rewritten: reversing it (冲正) sets its
status and appends a ``SettlementEvent``; the person-year accumulator is the one row a
settlement locks, so concurrent settlements of one person queue and never overrun the cap.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow
from yilian.patients.models import InsuranceScheme
from yilian.settlement.engine import AssistanceCategory, Filing

Money = Numeric(14, 2)


class SettlementStatus(enum.StrEnum):
    """Where a settlement stands."""

    SETTLED = "settled"  # 已结算
    REVERSED = "reversed"  # 已冲正


class SettlementEventKind(enum.StrEnum):
    """An entry in a settlement's history."""

    SETTLED = "settled"  # 结算 (2207)
    REVERSED = "reversed"  # 冲正 (2208)
    PAID = "paid"  # 患者自付缴费


class ReversalReason(enum.StrEnum):
    """Why a settlement was reversed 冲正原因."""

    BILLING_ERROR = "billing_error"  # 费用明细有误
    WRONG_PATIENT = "wrong_patient"  # 患者身份有误
    WRONG_FILING = "wrong_filing"  # 备案状态有误
    DISCHARGE_CANCELLED = "discharge_cancelled"  # 取消出院
    OTHER = "other"  # 其他


class PaymentMethod(enum.StrEnum):
    """How the patient paid their cash share."""

    SELF_SERVICE = "self_service"  # 自助缴费
    CASHIER = "cashier"  # 窗口缴费


class Coverage(Base):
    """A person's basic medical insurance and out-of-region filing 参保与备案信息."""

    __tablename__ = "coverage"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), unique=True)
    insured_region_code: Mapped[str] = mapped_column(String(6))
    scheme: Mapped[InsuranceScheme] = mapped_column(str_enum(InsuranceScheme, 16))
    card_number: Mapped[str] = mapped_column(String(32), default="")
    filing: Mapped[Filing] = mapped_column(str_enum(Filing, 16), default=Filing.NONE)
    # Where the filing holds (GB/T 2260 code or prefix region); blank: anywhere.
    filed_region_code: Mapped[str] = mapped_column(String(6), default="")
    # 医疗救助对象: 特困 / 低保 persons get the medical-assistance fund's share (policy permitting).
    assistance: Mapped[AssistanceCategory] = mapped_column(
        str_enum(AssistanceCategory, 24), default=AssistanceCategory.NONE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Accumulator(Base):
    """A person's year-to-date totals 年度累计: what the funds paid and how many admissions."""

    __tablename__ = "settlement_accumulator"
    __table_args__ = (UniqueConstraint("person_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    year: Mapped[int] = mapped_column(Integer)
    hifp_pay: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    hifmi_pay: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    hifmi_base: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    maf_pay: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    admissions: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Settlement(Base):
    """One settled inpatient bill and its slip, with the policy and catalogue it used."""

    __tablename__ = "settlement"
    __table_args__ = (
        Index("ix_settlement_fund_region_month", "fund_region_code", "settled_month"),
        Index("ix_settlement_fund_region_reversed_month", "fund_region_code", "reversed_month"),
        # The advisor's typical bill: an institution's settled bills of one diagnosis group.
        Index("ix_settlement_institution_dise_codg", "institution_id", "dise_codg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    bill_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    status: Mapped[SettlementStatus] = mapped_column(
        str_enum(SettlementStatus, 16), default=SettlementStatus.SETTLED
    )
    insured_region_code: Mapped[str] = mapped_column(String(6))
    # The pooling region whose fund owes the institution (the policy's region), for clearing.
    fund_region_code: Mapped[str] = mapped_column(String(6))
    treatment_region_code: Mapped[str] = mapped_column(String(6))
    scheme: Mapped[InsuranceScheme] = mapped_column(str_enum(InsuranceScheme, 16))
    filing: Mapped[Filing] = mapped_column(str_enum(Filing, 16))
    admission_date: Mapped[date] = mapped_column(Date)
    discharge_date: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    settled_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, for clearing
    # 2207 dise_codg: the discharge diagnosis (ICD-10), when the bill states it.
    dise_codg: Mapped[str | None] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(128))
    catalogue_version: Mapped[str] = mapped_column(String(128))
    medfee_sumamt: Mapped[Decimal] = mapped_column(Money)
    hifp_pay: Mapped[Decimal] = mapped_column(Money)
    hifmi_pay: Mapped[Decimal] = mapped_column(Money)
    hifmi_base: Mapped[Decimal] = mapped_column(Money)
    maf_pay: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    fund_pay_sumamt: Mapped[Decimal] = mapped_column(Money)
    psn_part_amt: Mapped[Decimal] = mapped_column(Money)
    acct_pay: Mapped[Decimal] = mapped_column(Money)
    psn_cash_pay: Mapped[Decimal] = mapped_column(Money)
    bill: Mapped[dict[str, Any]] = mapped_column(JSON)
    slip: Mapped[dict[str, Any]] = mapped_column(JSON)
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_by: Mapped[str] = mapped_column(String(64), default="")
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[ReversalReason | None] = mapped_column(str_enum(ReversalReason, 24))
    # YYYY-MM (China time) of the reversal: a later month's clearing shows it as an adjustment.
    reversed_month: Mapped[str | None] = mapped_column(String(7))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SettlementEvent(Base):
    """One entry in a settlement's history, with the accumulator change it made."""

    __tablename__ = "settlement_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    # Lets a new settlement and its first event be written in one flush.
    settlement: Mapped[Settlement] = relationship(lazy="raise")
    kind: Mapped[SettlementEventKind] = mapped_column(str_enum(SettlementEventKind, 16))
    hifp_pay_change: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    hifmi_pay_change: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    maf_pay_change: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    admissions_change: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[ReversalReason | None] = mapped_column(str_enum(ReversalReason, 24))
    note: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """The patient's payment of their cash share, and its receipt 缴费收据."""

    __tablename__ = "settlement_payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), unique=True)
    receipt_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, 16))
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_by: Mapped[str] = mapped_column(String(64), default="")


class Refund(Base):
    """A refund of the patient's cash payment after its settlement was reversed 退费, recorded
    against the receipt (no outside gateway); appended, never rewritten."""

    __tablename__ = "settlement_refund"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("settlement_payment.id"), unique=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlement.id"), index=True)
    refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    method: Mapped[PaymentMethod] = mapped_column(str_enum(PaymentMethod, 16))
    note: Mapped[str] = mapped_column(Text, default="")
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refunded_by: Mapped[str] = mapped_column(String(64), default="")


__all__ = [
    "Accumulator",
    "Coverage",
    "Payment",
    "PaymentMethod",
    "Refund",
    "ReversalReason",
    "Settlement",
    "SettlementEvent",
    "SettlementEventKind",
    "SettlementStatus",
]
