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
from yilian.results.models import (
    DiagnosticReport,
    ImagingStudy,
    Observation,
    Qualification,
    RecognitionDecision,
    RecognitionItem,
    SavingsEntry,
)

__all__ = [
    "Agreement",
    "AgreementParty",
    "AuditEvent",
    "Base",
    "Department",
    "DiagnosticReport",
    "ImagingStudy",
    "Institution",
    "InstitutionCentre",
    "LinkEvent",
    "LinkReview",
    "LoginAttempt",
    "Observation",
    "PatientRecord",
    "PatientShare",
    "Person",
    "Practitioner",
    "PractitionerRole",
    "Qualification",
    "RecognitionDecision",
    "RecognitionItem",
    "Region",
    "SavingsEntry",
    "User",
    "WebSession",
]
