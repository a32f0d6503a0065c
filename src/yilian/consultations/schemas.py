"""API shapes of consultations: the request, the steps, the report, and what is read back."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, Field, field_validator

from yilian.analytics.schemas import Definition
from yilian.consultations.models import ConsultationKind, ConsultationStatus
from yilian.referrals.models import ReferralKind, Urgency
from yilian.referrals.schemas import ICD10
from yilian.schemas import ReadModel, WriteModel


class ConsultationCreate(WriteModel):
    """A request for a remote consultation: who, about whom, of whom, and what is asked."""

    person_id: int = Field(description="The main patient")
    other_person_ids: list[int] = Field(
        default_factory=list, max_length=30,
        description="More patients, for a ward round or a case discussion")
    kind: ConsultationKind
    urgency: Urgency = Urgency.ROUTINE
    target_institution_id: int
    target_department_id: int | None = None
    target_specialty: str = Field(default="", max_length=64)
    expert_ids: list[int] = Field(default_factory=list, max_length=10,
                                  description="Named experts (practitioner ids), if any")
    diagnosis_code: str = Field(pattern=ICD10, max_length=16)
    diagnosis_text: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=4000)
    clinical_summary: str = Field(default="", max_length=20000)
    preferred_times: str = Field(default="", max_length=500)
    referral_id: int | None = Field(default=None, description="An attached referral")

    @field_validator("diagnosis_code", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


class AcceptBody(WriteModel):
    """The coordinator accepts and assigns experts (practitioners of the institution)."""

    expert_ids: list[int] = Field(min_length=1, max_length=10)
    note: str = Field(default="", max_length=2000)


class DeclineBody(WriteModel):
    """Why the consultation is declined (the requester reads it)."""

    reason: str = Field(min_length=1, max_length=2000)


class ScheduleBody(WriteModel):
    """When the session takes place; every assigned expert must be free then."""

    starts_at: AwareDatetime
    minutes: int | None = Field(default=None, ge=10, le=8 * 60)


class AttendanceBody(WriteModel):
    """The assigned experts the coordinator records as having taken part."""

    practitioner_ids: list[int] = Field(min_length=1, max_length=10)


class ActionBody(WriteModel):
    """A reason or a note for a step."""

    reason: str = Field(default="", max_length=2000)
    note: str = Field(default="", max_length=2000)


class ReportBody(WriteModel):
    """The experts' structured opinion."""

    findings: str = Field(default="", max_length=20000)
    assessment: str = Field(min_length=1, max_length=20000)
    recommendations: str = Field(min_length=1, max_length=20000)
    refer_up: bool = False


class AmendmentBody(WriteModel):
    """A correction or addition appended to a signed report."""

    text: str = Field(min_length=1, max_length=8000)


class ReferralFromReport(WriteModel):
    """Start the referral the report recommends; the patient's consent is still required."""

    consent_recorded: bool
    consent_note: str = Field(default="", max_length=200)
    kind: ReferralKind = ReferralKind.OUTPATIENT
    target_department_id: int | None = None


class EventRead(ReadModel):
    """A step of the timeline."""

    action: str
    from_status: str
    to_status: str
    actor: str
    actor_institution_id: int | None
    reason: str
    note: str
    at: datetime


class ExpertRead(ReadModel):
    """An assigned expert."""

    practitioner_id: int
    assigned_by: str
    assigned_at: datetime


class AttendanceRead(ReadModel):
    """Someone who joined the session."""

    username: str
    institution_id: int | None
    practitioner_id: int | None
    recorded_by: str = ""
    joined_at: datetime


class SignatureRead(ReadModel):
    """An expert's signature."""

    practitioner_id: int
    signer: str
    content_sha256: str
    signed_at: datetime


class AmendmentRead(ReadModel):
    """An amendment below the signed report."""

    text: str
    author: str
    at: datetime


class ReportRead(ReadModel):
    """The report, its signatures and amendments."""

    findings: str
    assessment: str
    recommendations: str
    refer_up: bool
    drafted_by: str
    content_sha256: str
    signatures: list[SignatureRead] = Field(default_factory=list)
    amendments: list[AmendmentRead] = Field(default_factory=list)


class DocumentRead(ReadModel):
    """An attached document (without its content)."""

    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class ConsultationSummary(ReadModel):
    """A consultation as a worklist row."""

    id: int
    kind: ConsultationKind
    urgency: Urgency
    status: ConsultationStatus
    version: int
    person_id: int
    requesting_institution_id: int
    target_institution_id: int
    target_specialty: str
    diagnosis_text: str
    requested_at: datetime
    response_due_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    overdue: bool = False


class ConsultationRead(ConsultationSummary):
    """A consultation in full."""

    other_person_ids: list[int] = Field(default_factory=list)
    target_department_id: int | None
    diagnosis_code: str
    question: str
    clinical_summary: str
    preferred_times: str
    decline_reason: str
    referral_id: int | None
    follow_up_referral_id: int | None
    room_url: str = ""
    experts: list[ExpertRead] = Field(default_factory=list)
    attendance: list[AttendanceRead] = Field(default_factory=list)
    events: list[EventRead] = Field(default_factory=list)
    report: ReportRead | None = None
    documents: list[DocumentRead] = Field(default_factory=list)


class CountRow(ReadModel):
    """One group of a count: its key (a kind, an institution id, a specialty), its name in
    Chinese and English where it has one, and its size."""

    key: str
    name: str = ""
    name_en: str = ""
    count: int


class ResponseRow(ReadModel):
    """How fast requests of one urgency were answered (accepted or declined)."""

    urgency: Urgency
    name: str
    name_en: str
    deadline_minutes: int
    answered: int
    median_minutes: float | None
    within_deadline: int
    within_deadline_share: float | None


class ConsultationCounts(ReadModel):
    """Consultations for analytics, over months of the request (Beijing time)."""

    period_from: str
    period_to: str
    total: int
    by_kind: list[CountRow]
    by_requesting_institution: list[CountRow]
    by_target_institution: list[CountRow]
    by_specialty: list[CountRow]
    answered: int
    median_response_minutes: float | None
    response_by_urgency: list[ResponseRow]
    reported: int
    referred_up: int = Field(description="Reported consultations that led to a referral up")
    kept_local: int
    referred_up_share: float | None
    definitions: list[Definition]
