"""Consultation tables: the request and its workflow, the patients it covers (several for a
ward round or case discussion), the experts assigned and who attended, the timeline, the
signed report with its signatures and amendments, and uploaded documents.

A `Consultation`'s ``version`` column makes every status change a compare-and-swap, as for
referrals. The report's content is frozen by its first signature; later changes are
`ConsultationAmendment` rows appended below it, never edits.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow
from yilian.referrals.models import Urgency


class ConsultationKind(enum.StrEnum):
    """What sort of session is asked for."""

    SINGLE = "single"  # 单科会诊
    MDT = "mdt"  # 多学科会诊
    WARD_ROUND = "ward_round"  # 远程查房
    CASE_DISCUSSION = "case_discussion"  # 病例讨论
    TEACHING = "teaching"  # 教学查房


class ConsultationStatus(enum.StrEnum):
    """Where the consultation's workflow stands."""

    REQUESTED = "requested"  # 待受理
    ACCEPTED = "accepted"  # 已受理（已分配专家）
    DECLINED = "declined"  # 已拒绝
    SCHEDULED = "scheduled"  # 已排期
    IN_SESSION = "in_session"  # 会诊中
    REPORTED = "reported"  # 报告已签署
    CLOSED = "closed"  # 已结束
    CANCELLED = "cancelled"  # 已撤销


class Consultation(Base):
    """A request for experts' opinion on one or more patients, and its session."""

    __tablename__ = "consultation"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ConsultationKind] = mapped_column(str_enum(ConsultationKind, 16), index=True)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 16))
    status: Mapped[ConsultationStatus] = mapped_column(str_enum(ConsultationStatus, 16),
                                                       index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The main patient (the first of the session's patients): a referral starts from them.
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    requesting_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"),
                                                           index=True)
    requesting_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    requesting_practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    target_institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    target_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    target_specialty: Mapped[str] = mapped_column(String(64), default="")
    # Experts the requester names (practitioner ids, comma-separated); the coordinator assigns.
    requested_expert_ids: Mapped[str] = mapped_column(String(200), default="")
    diagnosis_code: Mapped[str] = mapped_column(String(16))
    diagnosis_text: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    clinical_summary: Mapped[str] = mapped_column(Text, default="")
    preferred_times: Mapped[str] = mapped_column(String(500), default="")
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    coordinator_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decline_reason: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The video room: a random token, never a patient's or a record's id.
    room_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The referral started from the signed report, if any (analytics: referred up vs local).
    follow_up_referral_id: Mapped[int | None] = mapped_column(ForeignKey("referral.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patients: Mapped[list[ConsultationPatient]] = relationship(
        order_by="ConsultationPatient.position", lazy="select")
    experts: Mapped[list[ConsultationExpert]] = relationship(
        order_by="ConsultationExpert.id", lazy="select")
    events: Mapped[list[ConsultationEvent]] = relationship(
        order_by="ConsultationEvent.id", lazy="select")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it
    __table_args__ = (
        CheckConstraint("requesting_institution_id <> target_institution_id",
                        name="two_institutions"),
        Index("ix_consultation_target_status", "target_institution_id", "status"),
    )


class ConsultationPatient(Base):
    """A patient discussed in the session (ward rounds and case discussions have several)."""

    __tablename__ = "consultation_patient"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (UniqueConstraint("consultation_id", "person_id"),)


class ConsultationExpert(Base):
    """An expert the coordinator assigned, and whether they attended the session."""

    __tablename__ = "consultation_expert"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    assigned_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("consultation_id", "practitioner_id"),)


class ConsultationAttendance(Base):
    """Someone who joined the session (expert, requester or guest clinician), once each.

    Signing in to the room records the user; the coordinator records an assigned expert
    who took part without signing in (from the hospital's video room, by phone): then
    ``user_id`` is empty and ``recorded_by`` names the coordinator.
    """

    __tablename__ = "consultation_attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(64), default="", server_default="")
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("consultation_id", "user_id"),)


class ConsultationEvent(Base):
    """One step of a consultation's timeline: who did what, when, why."""

    __tablename__ = "consultation_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    actor: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    actor_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsultationReport(Base):
    """The experts' structured opinion; frozen by its first signature."""

    __tablename__ = "consultation_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), unique=True)
    findings: Mapped[str] = mapped_column(Text, default="")
    assessment: Mapped[str] = mapped_column(Text, default="")
    recommendations: Mapped[str] = mapped_column(Text, default="")
    refer_up: Mapped[bool] = mapped_column(Boolean, default=False)
    drafted_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SHA-256 of the content as first signed: every signature is of this same text.
    content_sha256: Mapped[str] = mapped_column(String(64), default="")

    signatures: Mapped[list[ReportSignature]] = relationship(
        order_by="ReportSignature.id", lazy="select")
    amendments: Mapped[list[ConsultationAmendment]] = relationship(
        order_by="ConsultationAmendment.id", lazy="select")


class ReportSignature(Base):
    """An expert's signature of the report's content."""

    __tablename__ = "consultation_signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("consultation_report.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    signer: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("report_id", "practitioner_id"),)


class ConsultationAmendment(Base):
    """A correction or addition to a signed report, appended below it."""

    __tablename__ = "consultation_amendment"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("consultation_report.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    author_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsultationDocument(Base):
    """A medical record attached to a consultation (PDF or image), stored in the database."""

    __tablename__ = "consultation_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultation.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
