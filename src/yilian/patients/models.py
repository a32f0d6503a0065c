"""Patient index tables: source records, the people they belong to, and how they were linked.

A `PatientRecord` is a patient as one institution registered them, under its own number.
A `Person` is the golden record every source record of the same human links to. Links are
never silently rewritten: each link, merge, unmerge and review decision is a `LinkEvent`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow


class Sex(enum.StrEnum):
    """Administrative sex as FHIR Patient.gender codes it."""

    MALE = "male"  # 男
    FEMALE = "female"  # 女
    OTHER = "other"  # 其他
    UNKNOWN = "unknown"  # 未知


class InsuranceScheme(enum.StrEnum):
    """Basic medical insurance scheme 基本医疗保险."""

    EMPLOYEE = "employee"  # 职工基本医疗保险
    RESIDENT = "resident"  # 城乡居民基本医疗保险


class RecordFlag(enum.StrEnum):
    """Something about a source record a registration clerk should check."""

    BIRTH_DATE_DIFFERS = "birth_date_differs"  # 出生日期与身份证不符
    SEX_DIFFERS = "sex_differs"  # 性别与身份证不符
    REGION_UNKNOWN = "region_unknown"  # 身份证地区码不在地区表中
    LEGACY_ID = "legacy_id"  # 15 位旧身份证号


class LinkMethod(enum.StrEnum):
    """How a source record came to belong to its person."""

    RESIDENT_ID = "resident_id"  # 身份证号一致
    PROBABILISTIC = "probabilistic"  # 概率匹配自动关联
    NEW_PERSON = "new_person"  # 无匹配，新建人员
    REVIEWED = "reviewed"  # 人工审核确认
    MERGED = "merged"  # 合并
    UNMERGED = "unmerged"  # 拆分恢复
    DETACHED = "detached"  # 从人员中移出


class PersonStatus(enum.StrEnum):
    """Whether a person is in use or was merged into another."""

    ACTIVE = "active"
    MERGED = "merged"  # 已合并至另一人员


class ReviewStatus(enum.StrEnum):
    """Where a possible duplicate stands in the review queue."""

    OPEN = "open"  # 待审核
    MERGED = "merged"  # 确认为同一人并合并
    DISTINCT = "distinct"  # 确认为不同人
    SUPERSEDED = "superseded"  # 已被其他操作取代


class LinkEventKind(enum.StrEnum):
    """An entry in the link history."""

    LINKED = "linked"  # 记录关联到人员
    RELINKED = "relinked"  # 记录更新后重新关联
    REVIEW_OPENED = "review_opened"  # 进入审核队列
    REVIEW_DISTINCT = "review_distinct"  # 审核为不同人
    MERGED = "merged"  # 人员合并
    UNMERGED = "unmerged"  # 撤销合并
    DETACHED = "detached"  # 记录移出为新人员


class SharingReason(enum.StrEnum):
    """Why another institution may see a person's records."""

    CONSENT = "consent"  # 患者授权
    REFERRAL = "referral"  # 转诊
    CONSULTATION = "consultation"  # 会诊


class Person(Base):
    """One human across the network: the golden record source records link to."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[PersonStatus] = mapped_column(
        str_enum(PersonStatus, 16), default=PersonStatus.ACTIVE, index=True
    )
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    # The golden values, taken from the best source record (one with a valid resident ID).
    name: Mapped[str] = mapped_column(String(64), default="")
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, 16), default=Sex.UNKNOWN)
    birth_date: Mapped[date | None] = mapped_column(Date)
    # A person holds at most one resident ID; its keyed hash guards against linking two (under
    # one key: while a key rotation runs, finding the holder by every key's hash is the guard,
    # see service.person_holding_id).
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    records: Mapped[list[PatientRecord]] = relationship(
        back_populates="person", order_by="PatientRecord.id"
    )


class PatientRecord(Base):
    """A patient as registered by one institution under its own patient number."""

    __tablename__ = "patient_record"
    __table_args__ = (
        UniqueConstraint("institution_id", "local_id"),
        Index("ix_patient_record_name_py_birth_date", "name_py", "birth_date"),
        Index("ix_patient_record_birth_date_surname_py", "birth_date", "surname_py"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    local_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, 16), default=Sex.UNKNOWN)
    birth_date: Mapped[date | None] = mapped_column(Date)
    # Resident ID and phone: AES-GCM ciphertext, a keyed hash for exact lookup, and for the
    # ID a masked form (110101********123X) that lists may show without decrypting.
    id_number_cipher: Mapped[str | None] = mapped_column(String(128))
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18), default="")
    phone_cipher: Mapped[str | None] = mapped_column(String(128))
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    insured_region_code: Mapped[str | None] = mapped_column(String(6))
    insurance_scheme: Mapped[InsuranceScheme | None] = mapped_column(
        str_enum(InsuranceScheme, 16)
    )
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Comparable forms the linkage model reads (see features.py); names are not secret.
    name_py: Mapped[str | None] = mapped_column(String(64))
    surname_py: Mapped[str | None] = mapped_column(String(16))
    address_key: Mapped[str | None] = mapped_column(String(200))
    # The institution merged this patient number into another of its own (HL7 ADT^A40):
    # kept for history, no longer updated.
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("patient_record.id"))
    link_method: Mapped[LinkMethod] = mapped_column(str_enum(LinkMethod, 16))
    match_probability: Mapped[float | None] = mapped_column(Float)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship(back_populates="records", foreign_keys=[person_id])


class LinkReview(Base):
    """A possible duplicate waiting for a person to decide: the new record and its candidate."""

    __tablename__ = "link_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("patient_record.id"), index=True)
    candidate_record_id: Mapped[int] = mapped_column(ForeignKey("patient_record.id"))
    candidate_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    match_probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    # Per field: comparison, level label and weight of evidence, as the model scored it.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[ReviewStatus] = mapped_column(
        str_enum(ReviewStatus, 16), default=ReviewStatus.OPEN, index=True
    )
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decision_reason: Mapped[str] = mapped_column(Text, default="")

    record: Mapped[PatientRecord] = relationship(foreign_keys=[record_id])
    candidate_record: Mapped[PatientRecord] = relationship(foreign_keys=[candidate_record_id])


class LinkEvent(Base):
    """One entry in the link history; merges name the records they moved, so they reverse."""

    __tablename__ = "link_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[LinkEventKind] = mapped_column(str_enum(LinkEventKind, 24), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    other_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    record_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    match_probability: Mapped[float | None] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    reason: Mapped[str] = mapped_column(Text, default="")
    # A merge that was later undone names the unmerge that reversed it, and vice versa.
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("link_event.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("link_event.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PatientShare(Base):
    """Another institution's right to see a person's records, and why (consent, referral…)."""

    __tablename__ = "patient_share"
    __table_args__ = (Index("ix_patient_share_institution_person", "institution_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    reason: Mapped[SharingReason] = mapped_column(str_enum(SharingReason, 16))
    source_ref: Mapped[str] = mapped_column(String(64), default="")
    granted_by: Mapped[str] = mapped_column(String(64), default="")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


__all__ = [
    "InsuranceScheme",
    "LinkEvent",
    "LinkEventKind",
    "LinkMethod",
    "LinkReview",
    "PatientRecord",
    "PatientShare",
    "Person",
    "PersonStatus",
    "RecordFlag",
    "ReviewStatus",
    "Sex",
    "SharingReason",
]
