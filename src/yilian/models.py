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

__all__ = [
    "Agreement",
    "AgreementParty",
    "AuditEvent",
    "Base",
    "BedCensus",
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
    "Referral",
    "ReferralClock",
    "ReferralDocument",
    "ReferralEvent",
    "Region",
    "User",
    "WebSession",
]
