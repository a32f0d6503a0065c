"""Every table of Yilian, imported in one place so the metadata is complete."""

from yilian.audit.models import AuditEvent
from yilian.auth.models import LoginAttempt, User, WebSession
from yilian.db import Base
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
    "Department",
    "InboxItem",
    "Institution",
    "InstitutionCentre",
    "LinkEvent",
    "LinkReview",
    "LoginAttempt",
    "Notification",
    "NotificationContact",
    "OutboxAttempt",
    "OutboxMessage",
    "PatientRecord",
    "PatientShare",
    "Person",
    "Practitioner",
    "PractitionerRole",
    "Region",
    "User",
    "WebSession",
    "WebhookSubscription",
]
