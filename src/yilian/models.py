"""Every table of Yilian, imported in one place so the metadata is complete."""

from yilian.audit.models import AuditEvent
from yilian.auth.models import LoginAttempt, User, WebSession
from yilian.db import Base
from yilian.patients.models import (
    LinkEvent,
    LinkReview,
    PatientRecord,
    PatientShare,
    Person,
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

__all__ = [
    "Agreement",
    "AgreementParty",
    "Appointment",
    "AppointmentStatusChange",
    "AuditEvent",
    "Base",
    "ClinicSession",
    "Department",
    "Institution",
    "InstitutionCentre",
    "LinkEvent",
    "LinkReview",
    "LoginAttempt",
    "PatientRecord",
    "PatientShare",
    "Person",
    "Practitioner",
    "PractitionerRole",
    "Region",
    "RescheduleNotice",
    "ScheduleException",
    "Slot",
    "Stationing",
    "Traineeship",
    "User",
    "WebSession",
]
