"""Encounters (the raw volume events hospitals send) and their monthly aggregate.

An :class:`Encounter` is one outpatient visit, one inpatient stay (admission, and its
discharge once it comes) or one surgery at an institution, tied to a patient index person.
The insured region and the residence are copied from the patient index at intake, so the
aggregate can split volumes into local and out-of-region patients without joining people.

:class:`VolumeMonth` holds the counts the dashboards read: it is changed in the same
transaction as every intake (``service.record_encounter``) and rebuilt from the raw rows
by ``yilian analytics refresh``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class EncounterKind(enum.StrEnum):
    """What happened: the unit the commission counts."""

    OUTPATIENT = "outpatient"  # 门急诊 (FHIR class AMB / EMER)
    INPATIENT = "inpatient"  # 住院 (FHIR class IMP): an admission, later its discharge
    SURGERY = "surgery"  # 手术 (FHIR Procedure)


class EncounterStatus(enum.StrEnum):
    """Where the encounter stands (FHIR Encounter.status, reduced)."""

    IN_PROGRESS = "in-progress"  # 在院 / 就诊中
    FINISHED = "finished"  # 已结束 / 已出院
    CANCELLED = "cancelled"  # 已取消 (counted nowhere)


class PatientOrigin(enum.StrEnum):
    """Whether the patient is insured where they are treated (the outflow split)."""

    LOCAL = "local"  # 本地参保: insured region contains the institution
    OUT_OF_REGION = "out_of_region"  # 异地参保
    UNKNOWN = "unknown"  # 参保地未知


class VolumeKind(enum.StrEnum):
    """What a monthly aggregate counts."""

    OUTPATIENT = "outpatient"  # 门急诊人次, by the month of the visit
    ADMISSION = "admission"  # 入院人次, by the month of admission
    DISCHARGE = "discharge"  # 出院人次, by the month of discharge
    SURGERY = "surgery"  # 手术台次, by the month of the operation


class Encounter(Base):
    """One visit, stay or operation as the institution's system sent it."""

    __tablename__ = "encounter"
    __table_args__ = (
        # Re-sending the same encounter (same sender id) updates it, never duplicates it.
        UniqueConstraint("institution_id", "resource_type", "source_id"),
        Index("ix_encounter_person_id_started_at", "person_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(16))  # Encounter | Procedure
    source_id: Mapped[str] = mapped_column(String(64))  # the sender's visit/operation number
    kind: Mapped[EncounterKind] = mapped_column(str_enum(EncounterKind, 16), index=True)
    status: Mapped[EncounterStatus] = mapped_column(str_enum(EncounterStatus, 16))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Beijing-time months (YYYY-MM) of the start and the end, as the aggregate buckets them.
    start_month: Mapped[str] = mapped_column(String(7))
    end_month: Mapped[str | None] = mapped_column(String(7))
    insured_region_code: Mapped[str | None] = mapped_column(String(6))
    residence_region_code: Mapped[str | None] = mapped_column(String(6))
    origin: Mapped[PatientOrigin] = mapped_column(str_enum(PatientOrigin, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class VolumeMonth(Base):
    """Counts of one kind at one institution (and department) in one month."""

    __tablename__ = "volume_month"
    # Dashboards sum an institution's months over every department: this index holds the
    # counts (PostgreSQL: INCLUDE), so those sums read the index alone, not the table.
    __table_args__ = (
        Index("ix_volume_month_institution_month", "institution_id", "month", "kind",
              postgresql_include=["department_key", "total", "local", "out_of_region",
                                  "unknown_region"]),
    )

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    # 0 when the sender named no department: a key column cannot be NULL, so no foreign key.
    department_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    kind: Mapped[VolumeKind] = mapped_column(str_enum(VolumeKind, 16), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    local: Mapped[int] = mapped_column(Integer, default=0)
    out_of_region: Mapped[int] = mapped_column(Integer, default=0)
    unknown_region: Mapped[int] = mapped_column(Integer, default=0)


class OutflowMonth(Base):
    """Admissions of patients insured in one region, by month and treating department.

    Kept beside :class:`VolumeMonth` in the same intake transaction: the outflow metric
    (异地就医外流) reads whether the treating institution lies inside the asked region from
    the registry (institutions are few), and the specialty from the department, so one row
    serves any region containing the insured code and any specialty.
    """

    __tablename__ = "outflow_month"
    # The outflow trend reads a region's months from this index alone (PostgreSQL: INCLUDE).
    __table_args__ = (
        Index("ix_outflow_month_region_month", "insured_region_code", "month",
              postgresql_include=["institution_id", "department_key", "admissions"]),
    )

    insured_region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    department_key: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: none named
    admissions: Mapped[int] = mapped_column(Integer, default=0)


class MetricCode(enum.StrEnum):
    """What a row of :class:`MetricMonth` counts (one per source capability's event)."""

    REFERRAL = "referral"  # 转诊 (category: up / down / lateral)
    REFERRAL_RESPONSE = "referral_response"  # 转诊答复用时 (bucket: minutes)
    REFERRAL_DEADLINE = "referral_deadline"  # 答复时限 (category: on_time / late / open…)
    GREEN_CHANNEL = "green_channel"  # 绿色通道时间 (category: interval, bucket: minutes)
    CONSULTATION = "consultation"  # 远程会诊 (category: kind)
    CONSULTATION_OUTCOME = "consultation_outcome"  # 会诊结局 (kept_local / referred_up)
    CLINIC = "clinic"  # 专家出诊预约 (category: booked / attended / noshow / cancelled)
    EXPERT_DAYS = "expert_days"  # 专家在岗天数 (category: stationing mode)
    TESTS_AVOIDED = "tests_avoided"  # 互认免检 (category: item, amount: money saved)
    SETTLEMENT = "settlement"  # 异地结算 (category: fund, amount: yuan)


class MetricMonth(Base):
    """Monthly counts of the network's other events (referrals, consultations, clinics,
    recognition, settlement), rebuilt from their capabilities' rows by
    ``yilian analytics refresh``; no patient appears in it."""

    __tablename__ = "metric_month"

    metric: Mapped[MetricCode] = mapped_column(str_enum(MetricCode, 32), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    # The other side (a referral's target, a consultation's consulted institution), 0: none.
    counterpart_key: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    category: Mapped[str] = mapped_column(String(32), primary_key=True, default="")
    specialty: Mapped[str] = mapped_column(String(64), primary_key=True, default="")
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)  # e.g. minutes
    count: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2), default=Decimal(0))
