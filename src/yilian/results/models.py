"""Shared results and mutual recognition 检查检验结果互认: tables.

The recognition catalogue (`RecognitionItem`) is regional data loaded from a CSV. An
institution's HR qualification (`Qualification`) per item or item group comes from quality
evaluation (EQA). Results are `DiagnosticReport` rows with their `Observation` values (lab)
or `ImagingStudy` (exam). A correction is a new report naming the one it supersedes: the old
report is never changed. Decisions at ordering time (`RecognitionDecision`) and the money
an accepted recognition saved (`SavingsEntry`) are appended, never overwritten.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class ItemCategory(enum.StrEnum):
    """Kind of recognition item."""

    LAB = "lab"  # 检验
    EXAM = "exam"  # 检查 (imaging, ECG, ultrasound, endoscopy)


class HrScope(enum.StrEnum):
    """How far an HR mark reaches (国卫医发〔2022〕6号): 全国HR, 本省HR, 市HR, 医联体HR."""

    NATIONAL = "national"  # 全国HR
    PROVINCE = "province"  # 本省HR
    CITY = "city"  # 市HR
    CONSORTIUM = "consortium"  # 医联体HR


class ReportStatus(enum.StrEnum):
    """DiagnosticReport.status as FHIR codes it (the subset results arrive with)."""

    FINAL = "final"  # 已审核
    CORRECTED = "corrected"  # 更正 (supersedes an earlier report)
    ENTERED_IN_ERROR = "entered-in-error"  # 录入错误


class AbnormalFlag(enum.StrEnum):
    """Observation interpretation (HL7 table 0078 / FHIR v3-ObservationInterpretation)."""

    NORMAL = "N"  # 正常
    LOW = "L"  # 偏低
    HIGH = "H"  # 偏高
    CRITICAL_LOW = "LL"  # 危急低值
    CRITICAL_HIGH = "HH"  # 危急高值
    ABNORMAL = "A"  # 异常


class Refusal(enum.StrEnum):
    """Why a held result cannot be recognised (or that none is held)."""

    NONE_HELD = "none_held"  # 无可用结果
    EXPIRED = "expired"  # 超过有效期
    NOT_QUALIFIED = "not_qualified"  # 检查时执行机构无互认资质
    SCOPE = "scope"  # 互认范围不覆盖本机构
    SUPERSEDED = "superseded"  # 已被更正报告取代
    NOT_FINAL = "not_final"  # 报告录入错误
    CONCLUSION_ONLY = "conclusion_only"  # 仅有诊断结论，无数据或影像


class Decision(enum.StrEnum):
    """What the ordering doctor did with the check."""

    ACCEPTED = "accepted"  # 互认，不再重复检查
    RETEST = "retest"  # 仍需复查


class RetestReason(enum.StrEnum):
    """Coded reasons for ordering a recognisable item again (国卫医发〔2022〕6号 art. 15)."""

    CONDITION_CHANGED = "condition_changed"  # 病情变化 / 结果与临床不符
    FAST_CHANGING = "fast_changing"  # 检查检验结果随病程变化快
    CRITICAL_CARE = "critical_care"  # 对诊疗关键（术前、输血前等）
    EMERGENCY = "emergency"  # 急诊急救
    APPRAISAL = "appraisal"  # 司法、伤残鉴定
    OTHER = "other"  # 其他（须说明）


class RecognitionItem(Base):
    """A catalogue item the region recognises, with its validity window and price."""

    __tablename__ = "recognition_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128), default="")
    category: Mapped[ItemCategory] = mapped_column(str_enum(ItemCategory, 8))
    item_group: Mapped[str] = mapped_column(String(32), default="", index=True)
    loinc: Mapped[str] = mapped_column(String(16), default="", index=True)
    specimen: Mapped[str] = mapped_column(String(32), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    body_site: Mapped[str] = mapped_column(String(32), default="")
    validity_days: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    # HR scopes this item may be recognised in, "|"-separated HrScope values.
    scopes: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def scope_set(self) -> frozenset[HrScope]:
        """The scopes as enum members."""
        return frozenset(HrScope(part) for part in self.scopes.split("|") if part)


class Qualification(Base):
    """An institution's HR mark for an item (or an item group), from an EQA result."""

    __tablename__ = "result_qualification"
    __table_args__ = (Index("ix_result_qualification_institution_item", "institution_id",
                            "item_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    item_code: Mapped[str] = mapped_column(String(32), default="")  # empty: the whole group
    item_group: Mapped[str] = mapped_column(String(32), default="")
    scope: Mapped[HrScope] = mapped_column(str_enum(HrScope, 16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date] = mapped_column(Date)
    eqa_reference: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moves on every change (a re-imported EQA file updates marks in place): the check's
    # in-process copy of the qualifications is stamped with it.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DiagnosticReport(Base):
    """One result as the performing institution reported it; corrections supersede it."""

    __tablename__ = "diagnostic_report"
    # The recognition check's one query: a person's results of some items, newest first.
    __table_args__ = (
        Index("ix_diagnostic_report_person_item_performed", "person_id", "item_code",
              "performed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    department_name: Mapped[str] = mapped_column(String(64), default="")
    item_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[ItemCategory] = mapped_column(str_enum(ItemCategory, 8))
    accession: Mapped[str] = mapped_column(String(64), default="")  # filler order number
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus, 24))
    # The physician's diagnostic conclusion: shown, never itself recognised.
    conclusion: Mapped[str] = mapped_column(Text, default="")
    supersedes_id: Mapped[int | None] = mapped_column(
        ForeignKey("diagnostic_report.id"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    observations: Mapped[list[Observation]] = relationship(
        back_populates="report", order_by="Observation.sequence", lazy="selectin"
    )
    imaging_studies: Mapped[list[ImagingStudy]] = relationship(
        back_populates="report", order_by="ImagingStudy.id", lazy="selectin"
    )


class Observation(Base):
    """One lab value of a report, with its unit, reference range and flag."""

    __tablename__ = "observation"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("diagnostic_report.id", ondelete="CASCADE"), index=True
    )
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    code: Mapped[str] = mapped_column(String(32))
    code_system: Mapped[str] = mapped_column(String(16), default="")  # LN for LOINC
    name: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(256), default="")
    value_number: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    unit: Mapped[str] = mapped_column(String(32), default="")
    reference_range: Mapped[str] = mapped_column(String(64), default="")
    reference_low: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    reference_high: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    abnormal_flag: Mapped[AbnormalFlag | None] = mapped_column(str_enum(AbnormalFlag, 4))

    report: Mapped[DiagnosticReport] = relationship(back_populates="observations")


class ImagingStudy(Base):
    """The images of an exam: its DICOM Study Instance UID and where to view them."""

    __tablename__ = "imaging_study"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("diagnostic_report.id", ondelete="CASCADE"), index=True
    )
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    modality: Mapped[str] = mapped_column(String(16), default="")
    body_site: Mapped[str] = mapped_column(String(32), default="")
    viewer_url: Mapped[str] = mapped_column(String(512), default="")

    report: Mapped[DiagnosticReport] = relationship(back_populates="imaging_studies")


class RecognitionDecision(Base):
    """A doctor's decision on an item at ordering time: recognised, or re-tested and why."""

    __tablename__ = "recognition_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    ordering_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"),
                                                         index=True)
    item_code: Mapped[str] = mapped_column(String(32))
    decision: Mapped[Decision] = mapped_column(str_enum(Decision, 16))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("diagnostic_report.id"))
    reason: Mapped[RetestReason | None] = mapped_column(str_enum(RetestReason, 24))
    reason_text: Mapped[str] = mapped_column(String(500), default="")
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavingsEntry(Base):
    """An avoided test and its catalogue price: one line of the savings ledger."""

    __tablename__ = "recognition_saving"
    __table_args__ = (Index("ix_recognition_saving_institution_month", "institution_id",
                            "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("recognition_decision.id"),
                                             unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    item_code: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Beijing time
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
