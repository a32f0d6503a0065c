"""Referral tables: the request (FHIR ServiceRequest facts), its workflow (Task status), the
timeline every step appends to, green-channel clock times, documents and bed census.

A `Referral` holds what is asked (patient, from whom, to whom, why) and where its workflow
stands; its `version` column makes every change a compare-and-swap, so two clinicians
acting at once never both succeed. The timeline (`ReferralEvent`) is appended, never
rewritten.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow
from yilian.registry.models import EmergencyCentre


class Direction(enum.StrEnum):
    """Which way the patient moves through the network."""

    UP = "up"  # 上转
    DOWN = "down"  # 下转
    LATERAL = "lateral"  # 平转


class ReferralKind(enum.StrEnum):
    """What the receiving side is asked to do."""

    OUTPATIENT = "outpatient"  # 门诊
    INPATIENT = "inpatient"  # 住院
    EXAMINATION = "examination"  # 检查
    REHABILITATION = "rehabilitation"  # 康复
    FOLLOW_UP = "follow_up"  # 随访


class Urgency(enum.StrEnum):
    """How fast an answer is needed (FHIR ServiceRequest.priority: routine, urgent, stat)."""

    ROUTINE = "routine"  # 普通
    URGENT = "urgent"  # 加急
    EMERGENCY = "emergency"  # 急诊


class TaskStatus(enum.StrEnum):
    """Where the referral's workflow stands: FHIR Task.status codes."""

    DRAFT = "draft"  # 草稿
    REQUESTED = "requested"  # 已提交
    RECEIVED = "received"  # 已接收
    ACCEPTED = "accepted"  # 已同意
    REJECTED = "rejected"  # 已拒绝
    READY = "ready"  # 已预约/已安排床位 (booked)
    IN_PROGRESS = "in-progress"  # 已到院/已入院
    COMPLETED = "completed"  # 已完成（结果已回传）
    CANCELLED = "cancelled"  # 已撤销
    FAILED = "failed"  # 未到诊/已过期


class EventKind(enum.StrEnum):
    """An entry of a referral's timeline."""

    CREATED = "created"  # 创建
    TRANSITION = "transition"  # 状态变更
    NOTE = "note"  # 备注
    ADVICE = "advice"  # 专家建议
    ESCALATED = "escalated"  # 超时升级
    DOCUMENT = "document"  # 上传病历
    CLOCK = "clock"  # 绿色通道时间点


class ClockPoint(enum.StrEnum):
    """A clinical time a green-channel centre is judged on."""

    ONSET = "onset"  # 发病
    FIRST_CONTACT = "first_contact"  # 首次医疗接触
    DOOR = "door"  # 到达医院大门
    ECG = "ecg"  # 首份心电图
    CT = "ct"  # 头颅 CT
    NEEDLE = "needle"  # 溶栓开始
    BALLOON = "balloon"  # 球囊扩张（导丝通过）


class Referral(Base):
    """A request to another institution to take over or share a patient's care."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    referring_institution_id: Mapped[int] = mapped_column(
        ForeignKey("institution.id"), index=True
    )
    referring_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    referring_practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    referring_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    target_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    target_department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id"), index=True
    )
    target_practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, 16), index=True)
    # Set when the referrer overrode the derived direction, with why.
    direction_override_reason: Mapped[str] = mapped_column(String(500), default="")
    kind: Mapped[ReferralKind] = mapped_column(str_enum(ReferralKind, 16))
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 16))
    green_channel: Mapped[EmergencyCentre | None] = mapped_column(str_enum(EmergencyCentre))
    diagnosis_code: Mapped[str] = mapped_column(String(16))
    diagnosis_text: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    clinical_summary: Mapped[str] = mapped_column(Text, default="")
    consent_recorded: Mapped[bool] = mapped_column(Boolean)
    consent_note: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, 16), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The receiving side's answer: a decline's reason, or advice instead of a referral.
    response_reason: Mapped[str] = mapped_column(Text, default="")
    advice: Mapped[str] = mapped_column(Text, default="")
    # Booking: an appointment or a bed (the scheduling capability links its Appointment).
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointment_place: Mapped[str] = mapped_column(String(200), default="")
    appointment_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    appointment_ref: Mapped[str] = mapped_column(String(64), default="")
    ward: Mapped[str] = mapped_column(String(64), default="")
    bed: Mapped[str] = mapped_column(String(32), default="")
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome_summary: Mapped[str] = mapped_column(Text, default="")
    follow_up_plan: Mapped[str] = mapped_column(Text, default="")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The referral this one continues: the up referral a down one follows, or the advice
    # a referral was made from.
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    events: Mapped[list[ReferralEvent]] = relationship(
        order_by="ReferralEvent.id", back_populates="referral", lazy="select"
    )
    clocks: Mapped[list[ReferralClock]] = relationship(
        order_by="ReferralClock.at", lazy="select"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it
    __table_args__ = (
        CheckConstraint("consent_recorded", name="consent_required"),
        CheckConstraint(
            "referring_institution_id <> target_institution_id", name="two_institutions"
        ),
        Index("ix_referral_target_status", "target_institution_id", "status"),
    )


def _named_status(name: str) -> SAEnum:
    """A Task status column with a check constraint of its own name (two in one table)."""
    return SAEnum(TaskStatus, native_enum=False, create_constraint=True, validate_strings=True,
                  length=16, name=name,
                  values_callable=lambda members: [member.value for member in members])


class ReferralEvent(Base):
    """One step of a referral's timeline: who did what, when, why, and the status change."""

    __tablename__ = "referral_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind, 16))
    action: Mapped[str] = mapped_column(String(32), default="")
    from_status: Mapped[TaskStatus | None] = mapped_column(_named_status("from_status"))
    to_status: Mapped[TaskStatus | None] = mapped_column(_named_status("to_status"))
    actor: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    referral: Mapped[Referral] = relationship(back_populates="events")


class ReferralClock(Base):
    """A green-channel clock time (door, ECG, needle, balloon…) of a referral."""

    __tablename__ = "referral_clock"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    point: Mapped[ClockPoint] = mapped_column(str_enum(ClockPoint, 16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("referral_id", "point"),)


class ReferralDocument(Base):
    """A medical record attached to a referral (PDF or image), stored in the database."""

    __tablename__ = "referral_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BedCensus(Base):
    """Free beds a receiving department publishes, by ward (pushed by its HIS or by hand)."""

    __tablename__ = "bed_census"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    ward: Mapped[str] = mapped_column(String(64))
    free_beds: Mapped[int] = mapped_column(Integer)
    total_beds: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (
        UniqueConstraint("department_id", "ward"),
        CheckConstraint("free_beds >= 0", name="free_beds_not_negative"),
    )
