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

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
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

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    # 0 when the sender named no department: a key column cannot be NULL, so no foreign key.
    department_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    kind: Mapped[VolumeKind] = mapped_column(str_enum(VolumeKind, 16), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    local: Mapped[int] = mapped_column(Integer, default=0)
    out_of_region: Mapped[int] = mapped_column(Integer, default=0)
    unknown_region: Mapped[int] = mapped_column(Integer, default=0)
