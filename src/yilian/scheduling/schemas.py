"""API shapes of the scheduling capability."""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import Field

from yilian.scheduling.models import (
    AppointmentStatus,
    BookingSource,
    CancelReason,
    ExceptionKind,
    HalfDay,
    SlotStatus,
    StationingMode,
    StationingRole,
    TraineeStatus,
)
from yilian.schemas import ReadModel, WriteModel


class StationingCreate(WriteModel):
    """Station an expert of the lead institution in a partner department."""

    practitioner_code: str = Field(max_length=32)
    institution_code: str = Field(max_length=32)
    department_code: str = Field(max_length=32)
    mode: StationingMode
    role: StationingRole
    start_date: date
    end_date: date | None = None


class StationingRead(ReadModel):
    """A stationed expert with the period and the days on site so far."""

    id: int
    practitioner_role_id: int
    practitioner_id: int
    practitioner_name: str
    home_institution_id: int
    institution_id: int
    department_id: int | None
    mode: StationingMode
    role: StationingRole
    start_date: date
    end_date: date | None
    days_on_site: int


class ClinicSessionCreate(WriteModel):
    """A recurring clinic: every ``weekday`` (0 = Monday) from ``start``."""

    practitioner_id: int
    department_id: int
    weekday: int = Field(ge=0, le=6)
    half_day: HalfDay
    start_time: time
    slot_minutes: int = Field(ge=5, le=240)
    slot_count: int = Field(ge=1, le=200)
    valid_from: date
    valid_to: date | None = None


class ClinicSessionRead(ReadModel):
    """A recurring clinic (FHIR Schedule)."""

    id: int
    practitioner_id: int
    institution_id: int
    department_id: int
    weekday: int
    half_day: HalfDay
    start_time: time
    slot_minutes: int
    slot_count: int
    valid_from: date
    valid_to: date | None


class SlotRead(ReadModel):
    """A bookable time (FHIR Slot)."""

    id: int
    clinic_session_id: int
    practitioner_id: int
    department_id: int
    session_date: date
    start_at: datetime
    end_at: datetime
    status: SlotStatus


class ExceptionCreate(WriteModel):
    """Call clinics off: a holiday of an institution or an expert's absence."""

    kind: ExceptionKind
    start_date: date
    end_date: date
    institution_id: int | None = None
    practitioner_id: int | None = None
    reason: str = Field(default="", max_length=200)


class ExceptionRead(ReadModel):
    """What was called off and how many booked patients were told."""

    id: int
    kind: ExceptionKind
    start_date: date
    end_date: date
    cancelled_appointments: int


class AppointmentCreate(WriteModel):
    """Book a slot; a patient's own account may leave ``person_id`` out."""

    slot_id: int
    person_id: int | None = None
    source: BookingSource = BookingSource.ONLINE
    source_ref: str = Field(default="", max_length=64)


class AppointmentRead(ReadModel):
    """An appointment (FHIR Appointment); the code is what the patient checks in with."""

    id: int
    code: str
    slot_id: int
    person_id: int
    practitioner_id: int
    department_id: int
    institution_id: int
    clinic_session_id: int
    session_date: date
    start_at: datetime
    end_at: datetime
    status: AppointmentStatus
    source: BookingSource
    source_ref: str
    queue_number: int | None
    cancel_reason: CancelReason | None


class StatusChange(WriteModel):
    """Move an appointment along (FHIR Appointment.status rules)."""

    status: AppointmentStatus
    note: str = Field(default="", max_length=200)


class CancelRequest(WriteModel):
    """Why an appointment is cancelled (optional for the patient, kept in its history)."""

    reason: str = Field(default="", max_length=200)


class CheckinRequest(WriteModel):
    """Self check-in by appointment code or resident ID."""

    code: str = Field(default="", max_length=16)
    id_number: str = Field(default="", max_length=32)


class TraineeCreate(WriteModel):
    """Place a partner hospital's practitioner in a lead-hospital department."""

    practitioner_code: str = Field(max_length=32)
    institution_code: str = Field(max_length=32)
    department_code: str = Field(max_length=32)
    start_date: date
    end_date: date


class TraineeRead(ReadModel):
    """A trainee and where their training stands."""

    id: int
    practitioner_role_id: int
    practitioner_id: int
    practitioner_name: str
    home_institution_id: int
    institution_id: int
    department_id: int | None
    start_date: date
    end_date: date | None
    status: TraineeStatus
    completed_on: date | None
    assessment: str


class TraineeStatusUpdate(WriteModel):
    """Start, complete or withdraw a traineeship."""

    status: TraineeStatus
    assessment: str = Field(default="", max_length=200)
