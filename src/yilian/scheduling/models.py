"""Scheduling tables: stationed experts, clinic sessions and their slots, appointments,
reschedule notices and trainees.

A stationing 派驻 and a traineeship 进修 each extend one registry ``PractitionerRole`` (who,
where, from when to when) with what scheduling needs: the mode and role of the posting, the
progress of the trainee. A clinic session is a FHIR Schedule, its generated slots are FHIR
Slots, an appointment is a FHIR Appointment whose status changes are appended as history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yilian.db import Base, UTCDateTime, str_enum, utcnow


def _named_enum(enum_type: type[enum.StrEnum], name: str) -> SAEnum:
    column_type = str_enum(enum_type, 24)
    column_type.name = name
    return column_type


class StationingMode(enum.StrEnum):
    """How a stationed expert serves the partner department."""

    RESIDENT = "resident"  # 常驻
    PERIODIC = "periodic"  # 定期出诊
    REMOTE = "remote"  # 远程


class StationingRole(enum.StrEnum):
    """What the expert is in the partner department."""

    EXECUTIVE_DIRECTOR = "executive_director"  # 执行主任 (双主任制)
    ATTENDING = "attending"  # 主诊专家
    VISITING = "visiting"  # 出诊专家


class HalfDay(enum.StrEnum):
    """Morning or afternoon clinic 上午/下午."""

    MORNING = "morning"  # 上午
    AFTERNOON = "afternoon"  # 下午


class SlotStatus(enum.StrEnum):
    """FHIR Slot.status (the subset a clinic uses)."""

    FREE = "free"  # 可约
    BUSY = "busy"  # 已约
    BUSY_UNAVAILABLE = "busy-unavailable"  # 停诊


class ExceptionKind(enum.StrEnum):
    """Why clinics do not take place on some days."""

    HOLIDAY = "holiday"  # 节假日 (the whole institution)
    ABSENCE = "absence"  # 专家停诊 (one expert)


class AppointmentStatus(enum.StrEnum):
    """FHIR R4 Appointment.status."""

    PROPOSED = "proposed"  # 拟约
    PENDING = "pending"  # 待确认
    BOOKED = "booked"  # 已预约
    ARRIVED = "arrived"  # 已到诊（候诊）
    FULFILLED = "fulfilled"  # 已就诊
    CANCELLED = "cancelled"  # 已取消
    NOSHOW = "noshow"  # 爽约
    ENTERED_IN_ERROR = "entered-in-error"  # 录入错误
    CHECKED_IN = "checked-in"  # 就诊中
    WAITLIST = "waitlist"  # 候补


class BookingSource(enum.StrEnum):
    """Where a booking came from."""

    ONLINE = "online"  # 网上预约
    REFERRAL = "referral"  # 转诊预约
    WINDOW = "window"  # 窗口挂号
    PHONE = "phone"  # 电话预约


class CancelReason(enum.StrEnum):
    """Why an appointment was cancelled."""

    PATIENT = "patient"  # 患者取消
    STAFF = "staff"  # 医院取消
    SESSION_CANCELLED = "session_cancelled"  # 专家停诊/节假日
    RESCHEDULED = "rescheduled"  # 已改约


class TraineeStatus(enum.StrEnum):
    """Progress of a trainee 进修人员."""

    PLANNED = "planned"  # 待进修
    IN_TRAINING = "in_training"  # 进修中
    COMPLETED = "completed"  # 已结业
    WITHDRAWN = "withdrawn"  # 已退出


class Stationing(Base):
    """A lead-hospital expert posted to a partner department 派驻 (extends a registry role)."""

    __tablename__ = "stationing"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_role_id: Mapped[int] = mapped_column(
        ForeignKey("practitioner_role.id", ondelete="CASCADE"), unique=True
    )
    mode: Mapped[StationingMode] = mapped_column(str_enum(StationingMode, 16))
    role: Mapped[StationingRole] = mapped_column(str_enum(StationingRole, 32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClinicSession(Base):
    """A recurring clinic (FHIR Schedule): an expert, a department, a weekday half-day."""

    __tablename__ = "clinic_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday … 6 = Sunday
    half_day: Mapped[HalfDay] = mapped_column(str_enum(HalfDay, 16))
    start_time: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    slot_count: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("weekday between 0 and 6", name="weekday_0_to_6"),
        CheckConstraint("slot_minutes between 5 and 240", name="slot_minutes_sane"),
        CheckConstraint("slot_count between 1 and 200", name="slot_count_sane"),
        CheckConstraint("valid_to is null or valid_to >= valid_from", name="dates_ordered"),
    )


class Slot(Base):
    """One bookable time of a clinic session (FHIR Slot); taken by one appointment at most."""

    __tablename__ = "slot"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_session_id: Mapped[int] = mapped_column(
        ForeignKey("clinic_session.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    session_date: Mapped[date] = mapped_column(Date, index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[SlotStatus] = mapped_column(str_enum(SlotStatus, 16), default=SlotStatus.FREE)

    clinic_session: Mapped[ClinicSession] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("clinic_session_id", "start_at"),)


class ScheduleException(Base):
    """Days without clinics: an institution's holiday or one expert's absence."""

    __tablename__ = "schedule_exception"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ExceptionKind] = mapped_column(str_enum(ExceptionKind, 16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"), index=True)
    practitioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("practitioner.id"), index=True
    )
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="dates_ordered"),
        CheckConstraint(
            "institution_id is not null or practitioner_id is not null", name="has_target"
        ),
    )


class Appointment(Base):
    """A patient's booking of a slot (FHIR Appointment), real-name through the patient index."""

    __tablename__ = "appointment"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slot.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    clinic_session_id: Mapped[int] = mapped_column(ForeignKey("clinic_session.id"), index=True)
    session_date: Mapped[date] = mapped_column(Date, index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[AppointmentStatus] = mapped_column(
        str_enum(AppointmentStatus, 24), index=True
    )
    source: Mapped[BookingSource] = mapped_column(str_enum(BookingSource, 16))
    source_ref: Mapped[str] = mapped_column(String(64), default="")
    queue_number: Mapped[int | None] = mapped_column(Integer)
    booked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    cancel_reason: Mapped[CancelReason | None] = mapped_column(str_enum(CancelReason, 24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[AppointmentStatusChange]] = relationship(
        order_by="AppointmentStatusChange.id", cascade="all, delete-orphan"
    )


class AppointmentStatusChange(Base):
    """One status change of an appointment, appended, never rewritten."""

    __tablename__ = "appointment_status_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(
        ForeignKey("appointment.id", ondelete="CASCADE"), index=True
    )
    # Two columns of one enum need their own check-constraint names.
    from_status: Mapped[AppointmentStatus | None] = mapped_column(
        _named_enum(AppointmentStatus, "from_status")
    )
    to_status: Mapped[AppointmentStatus] = mapped_column(
        _named_enum(AppointmentStatus, "to_status")
    )
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(200), default="")


class RescheduleNotice(Base):
    """Told to a patient whose appointment a cancelled clinic took away, with slots offered."""

    __tablename__ = "reschedule_notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    # Ids of the free slots offered, comma-separated, soonest first.
    offered_slot_ids: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def offered_ids(self) -> list[int]:
        """The offered slot ids as numbers."""
        return [int(part) for part in self.offered_slot_ids.split(",") if part]


class Traineeship(Base):
    """A partner-hospital staff member training in a lead-hospital department 进修."""

    __tablename__ = "traineeship"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_role_id: Mapped[int] = mapped_column(
        ForeignKey("practitioner_role.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[TraineeStatus] = mapped_column(str_enum(TraineeStatus, 16))
    completed_on: Mapped[date | None] = mapped_column(Date)
    assessment: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
