"""Every table of Yilian, imported in one place so the metadata is complete."""

from yilian.analytics.models import Encounter, VolumeMonth
from yilian.audit.models import AuditEvent
from yilian.auth.models import LoginAttempt, RecoveryCode, User, UserTotp, WebSession
from yilian.consultations.models import Consultation  # its module holds every table of it
from yilian.db import Base
from yilian.idempotency import IdempotentRequest
from yilian.notify.models import (
    InboxItem,
    Notification,
    NotificationContact,
    OutboxAttempt,
    OutboxMessage,
    WebhookSubscription,
)
from yilian.patients.models import (
    LinkEvent,
    LinkReview,
    PatientRecord,
    PatientShare,
    Person,
)
from yilian.referrals.models import (
    BedCensus,
    Referral,
    ReferralClock,
    ReferralDocument,
    ReferralEvent,
)
from yilian.registry.models import (
    Agreement,
    AgreementParty,
    Department,
    Institution,
    InstitutionCentre,
    Practitioner,
    PractitionerRole,
    Region,
)
from yilian.results.models import (
    DiagnosticReport,
    ImagingStudy,
    Observation,
    Qualification,
    RecognitionDecision,
    RecognitionItem,
    SavingsEntry,
)
from yilian.scheduling.models import (
    Appointment,
    AppointmentStatusChange,
    ClinicSession,
    RescheduleNotice,
    ScheduleException,
    Slot,
    Stationing,
    Traineeship,
)
from yilian.settlement.models import (
    Accumulator,
    Coverage,
    Payment,
    Settlement,
    SettlementEvent,
)

__all__ = [
    "Accumulator",
    "Agreement",
    "AgreementParty",
    "Appointment",
    "AppointmentStatusChange",
    "AuditEvent",
    "Base",
    "BedCensus",
    "ClinicSession",
    "Consultation",
    "Coverage",
    "Department",
    "DiagnosticReport",
    "Encounter",
    "IdempotentRequest",
    "ImagingStudy",
    "InboxItem",
    "Institution",
    "InstitutionCentre",
    "LinkEvent",
    "LinkReview",
    "LoginAttempt",
    "Notification",
    "NotificationContact",
    "Observation",
    "OutboxAttempt",
    "OutboxMessage",
    "PatientRecord",
    "PatientShare",
    "Payment",
    "Person",
    "Practitioner",
    "PractitionerRole",
    "Qualification",
    "RecognitionDecision",
    "RecognitionItem",
    "RecoveryCode",
    "Referral",
    "ReferralClock",
    "ReferralDocument",
    "ReferralEvent",
    "Region",
    "RescheduleNotice",
    "SavingsEntry",
    "ScheduleException",
    "Settlement",
    "SettlementEvent",
    "Slot",
    "Stationing",
    "Traineeship",
    "User",
    "UserTotp",
    "VolumeMonth",
    "WebSession",
    "WebhookSubscription",
]
