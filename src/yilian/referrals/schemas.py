"""API shapes of referrals: the request, its actions, the timeline, beds and documents."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, field_validator

from yilian.referrals.models import (
    ClockPoint,
    Direction,
    EventKind,
    ReferralKind,
    TaskStatus,
    Urgency,
)
from yilian.registry.models import EmergencyCentre
from yilian.schemas import ReadModel, WriteModel

ICD10 = r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$"


class ReferralCreate(WriteModel):
    """A new referral: who, to whom, what for, and the patient's consent."""

    person_id: int
    target_institution_id: int
    target_department_id: int | None = None
    target_practitioner_id: int | None = None
    referring_institution_id: int | None = Field(
        default=None, description="Default: the user's own institution"
    )
    referring_department_id: int | None = None
    kind: ReferralKind
    urgency: Urgency = Urgency.ROUTINE
    green_channel: EmergencyCentre | None = None
    diagnosis_code: str = Field(pattern=ICD10, max_length=16)
    diagnosis_text: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=4000)
    clinical_summary: str = Field(default="", max_length=20000)
    consent_recorded: bool = Field(description="The patient (or guardian) agreed; required")
    consent_note: str = Field(default="", max_length=200)
    direction: Direction | None = Field(
        default=None, description="Override of the derived direction (needs a reason)"
    )
    direction_override_reason: str = Field(default="", max_length=500)
    draft: bool = Field(default=False, description="Keep as a draft instead of sending")
    based_on_id: int | None = None

    @field_validator("diagnosis_code", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class ActionBody(WriteModel):
    """Why an action is taken, and a note for the other side."""

    reason: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=4000)


class AdviceBody(WriteModel):
    """Advice & Guidance: the specialist answers with advice instead of taking the patient."""

    advice: str = Field(min_length=1, max_length=8000)


class BookingBody(WriteModel):
    """An appointment (a clinic slot, or a time and place) or a bed for the accepted referral."""

    slot_id: int | None = Field(
        default=None, description="A free slot of the receiving institution's clinics: booked "
        "for the patient (source referral) and linked as the referral's appointment")
    appointment_at: AwareDatetime | None = None
    appointment_place: str = Field(default="", max_length=200)
    appointment_department_id: int | None = None
    appointment_ref: str = Field(default="", max_length=64, pattern=r"^$|^Appointment/\S+$")
    ward: str = Field(default="", max_length=64)
    bed: str = Field(default="", max_length=32)
    note: str = Field(default="", max_length=4000)


class CompletionBody(WriteModel):
    """The outcome returned to the referrer: discharge summary and follow-up plan."""

    outcome_summary: str = Field(min_length=1, max_length=20000)
    follow_up_plan: str = Field(default="", max_length=8000)


class DownReferralBody(WriteModel):
    """Send the discharged patient back down, carrying the follow-up plan."""

    target_institution_id: int | None = Field(
        default=None, description="Default: the institution that referred the patient up"
    )
    target_department_id: int | None = None
    kind: ReferralKind = ReferralKind.REHABILITATION
    reason: str = Field(default="", max_length=4000)


class NoteBody(WriteModel):
    """An interim note on the timeline."""

    note: str = Field(min_length=1, max_length=4000)


class ClockBody(WriteModel):
    """A green-channel clock time."""

    point: ClockPoint
    at: AwareDatetime


class EventRead(ReadModel):
    """One step of the timeline."""

    id: int
    kind: EventKind
    action: str
    from_status: TaskStatus | None
    to_status: TaskStatus | None
    actor: str
    actor_institution_id: int | None
    reason: str
    note: str
    at: datetime


class ClockRead(ReadModel):
    """A recorded green-channel time."""

    point: ClockPoint
    at: datetime


class IntervalRead(ReadModel):
    """A green-channel interval against its target."""

    name: str
    minutes: int | None
    limit_minutes: int
    met: bool | None


class ReferralSummary(ReadModel):
    """A referral in a worklist."""

    id: int
    person_id: int
    patient_name: str = ""
    referring_institution_id: int
    target_institution_id: int
    target_department_id: int | None
    direction: Direction
    kind: ReferralKind
    urgency: Urgency
    green_channel: EmergencyCentre | None
    diagnosis_code: str
    diagnosis_text: str
    status: TaskStatus
    version: int
    requested_at: datetime | None
    response_due_at: datetime | None
    overdue: bool = False
    created_at: datetime


class ReferralRead(ReferralSummary):
    """A referral with everything the two sides need, and its timeline."""

    referring_department_id: int | None
    referring_practitioner_id: int | None
    referring_user_id: int | None
    target_practitioner_id: int | None
    direction_override_reason: str
    reason: str
    clinical_summary: str
    consent_recorded: bool
    consent_note: str
    responded_at: datetime | None
    escalated_at: datetime | None
    response_reason: str
    advice: str
    appointment_at: datetime | None
    appointment_place: str
    appointment_department_id: int | None
    appointment_ref: str
    ward: str
    bed: str
    arrived_at: datetime | None
    outcome_summary: str
    follow_up_plan: str
    completed_at: datetime | None
    based_on_id: int | None
    events: list[EventRead] = Field(default_factory=list)
    clocks: list[ClockRead] = Field(default_factory=list)
    intervals: list[IntervalRead] = Field(default_factory=list)
    documents: list[DocumentRead] = Field(default_factory=list)


class DocumentRead(ReadModel):
    """An attached medical record (without its content)."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class WardBeds(WriteModel):
    """Free beds of one ward."""

    ward: str = Field(min_length=1, max_length=64)
    free_beds: int = Field(ge=0, le=10000)
    total_beds: int = Field(default=0, ge=0, le=10000)


class BedCensusUpdate(WriteModel):
    """A department's whole bed census, ward by ward."""

    wards: list[WardBeds] = Field(min_length=1, max_length=200)


class BedCensusRead(ReadModel):
    """Free beds of one ward of a department."""

    institution_id: int
    department_id: int
    ward: str
    free_beds: int
    total_beds: int
    updated_at: datetime


class EscalationRead(ReadModel):
    """What an escalation run did."""

    escalated: list[int]


ReferralRead.model_rebuild()
