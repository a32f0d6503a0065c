"""Who may call which API, FHIR and HL7 route: the access matrix's one declarative table.

Each route of the application (method and path template, as FastAPI lists it) has a
:class:`Rule`: the roles that may call it and, for a route naming one thing of the seeded
world (a patient, a record, a referral, a settlement, an institution ...), how far each of
those roles reaches (``ALL`` the network, ``OWN`` its institution's things and the patients
shared with it, ``SELF`` a patient's own things). Everyone else gets 403 or 404, never data.
``tests/security/test_access_matrix.py`` sweeps every route against this table; a route
without a rule fails that test, so a new route must say here who may call it.

The table is written from the product's rules (PRODUCT.md, ``auth/permissions.py``'s
comments), not generated from the code it checks.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from yilian.auth.models import Role


class Reach(enum.Enum):
    """How far an allowed role reaches on the route's target."""

    ALL = "all"  # every case: own, shared and other
    OWN = "own"  # the case's thing belongs to the caller's institution (or is shared with it)
    SELF = "self"  # a patient: their own things only


PA, CA, HA, CL, IC, PT = (Role.PLATFORM_ADMIN, Role.COMMISSION_ANALYST, Role.HOSPITAL_ADMIN,
                          Role.CLINICIAN, Role.INSURANCE_CLERK, Role.PATIENT)
ROLE_CODES = {"PA": PA, "CA": CA, "HA": HA, "CL": CL, "IC": IC, "PT": PT}


def who(codes: str, **reach: Reach) -> dict[Role, Reach]:
    """Roles by code (``"PA HA CL"``) with their default reach: network roles everything,
    a patient themself, staff their own institution's; keyword codes override one role."""
    allowed: dict[Role, Reach] = {}
    for code in codes.split():
        role = ROLE_CODES[code]
        allowed[role] = (Reach.ALL if role in (PA, CA) else
                         Reach.SELF if role is PT else Reach.OWN)
    for code, value in reach.items():
        allowed[ROLE_CODES[code]] = value
    return allowed


EVERYONE = "PA CA HA CL IC PT"
PATIENT_STAFF = "PA HA CL IC"  # patient.read / patient.write
REGISTRY_ADMINS = "PA HA"
CLINICAL = "PA HA CL"  # referral.*, result.read/write, consultation.read/request
REGION = {"region": "130730"}  # the analytics' region filter: A's county


@dataclass(frozen=True)
class Rule:
    """Who may call one route, and what an allowed call answers.

    ``target`` names the kind of seeded thing the route's path parameter is filled with
    (see ``tests/security/world.py``); without one, the route is swept once per role with
    placeholder ids. ``ok`` is the set of statuses an allowed call may answer (default: 200
    for a read whose path is all seeded, 404 for one with a placeholder id, and for writes
    anything but 401/403/5xx, nor 404 when the path names seeded things). A write naming a
    thing sends its rule's valid ``body`` (refused calls first: they must change nothing;
    allowed ones may, and run after every read); any other write sends a body that fails
    validation, so it changes nothing. ``patient_read``: an
    allowed call reads one patient's data and must leave exactly one audit record naming
    that patient. ``public``: no sign-in needed.
    ``last``: the call revokes the caller's tokens, so it is swept after everything else.
    """

    allowed: Mapping[Role, Reach]
    target: str | None = None
    ok: frozenset[int] | None = None
    own_cases: frozenset[str] | None = None  # the cases an OWN reach covers, if not the kind's
    role_cases: Mapping[Role, frozenset[str]] = field(default_factory=dict)  # ... for one role
    fills: Mapping[str, str] = field(default_factory=dict)  # more parameters: kind, same case
    body: Mapping[str, object] | None = None  # a valid body for the write (see the sweep)
    patient_read: bool = False
    query: Mapping[str, str] = field(default_factory=dict)
    public: bool = False
    last: bool = False


def rule(codes: str, target: str | None = None, *, ok: tuple[int, ...] | None = None,
         own_cases: tuple[str, ...] | None = None,
         role_cases: Mapping[str, tuple[str, ...]] | None = None,
         fills: Mapping[str, str] | None = None,
         body: Mapping[str, object] | None = None, patient_read: bool = False,
         query: Mapping[str, str] | None = None, public: bool = False, last: bool = False,
         **reach: Reach) -> Rule:
    """A :class:`Rule` for the roles ``codes`` (see :func:`who`). A query value
    ``"@kind.case"`` is the seeded id of that kind and case; ``own_cases`` the cases an OWN
    reach covers on this route (A's: "own" where A refers or asks, "shared" where A is asked),
    ``role_cases`` the same for one role by its code; ``fills`` names, for a path
    parameter after the target's, the kind of seeded thing of the same case it takes.
    ``body``: a valid request body for a write naming a thing (values ``"@kind.case"`` as
    in queries), so that whether the caller may act on that thing decides the answer, not
    the body's validation."""
    return Rule(who(codes, **reach), target, frozenset(ok) if ok is not None else None,
                frozenset(own_cases) if own_cases is not None else None,
                {ROLE_CODES[code]: frozenset(cases) for code, cases in (role_cases or {}).items()},
                dict(fills or {}),
                body, patient_read, dict(query or {}), public, last)


def public(ok: tuple[int, ...] = (200,)) -> Rule:
    """A route anyone may call without signing in."""
    return Rule(who(EVERYONE), ok=frozenset(ok), public=True)


ALL = Reach.ALL
OWN = Reach.OWN
# Public registry and clinic information: every signed-in role reads any institution's.
ANYWHERE = {"HA": ALL, "CL": ALL, "IC": ALL, "PT": ALL}
# A user's own things (an inbox item): every role reaches its own only.
MINE = {"PA": OWN, "CA": OWN, "HA": OWN, "CL": OWN, "IC": OWN, "PT": OWN}

# The referral steps, each with a valid body (documents are uploaded as files: none).
REFERRAL_STEPS: dict[str, Mapping[str, object] | None] = {
    "receive": {}, "accept": {"note": "同意接收"}, "decline": {"reason": "床位已满"},
    "advise": {"advice": "先在本院调整用药"}, "refer-after-advice": None,
    "book": {"appointment_at": "2026-12-20T09:00:00+08:00", "appointment_place": "心内科门诊"},
    "arrive": {}, "complete": {"outcome_summary": "好转出院"}, "refer-down": {},
    "cancel": {"reason": "患者改变主意"}, "fail": {"reason": "患者未到"},
    "notes": {"note": "已电话随访"},
    "clocks": {"point": "door", "at": "2026-11-30T08:00:00+08:00"}, "documents": None,
}
SIDES = {
    **dict.fromkeys(("receive", "accept", "decline", "advise", "arrive", "complete", "fail",
                     "refer-down"), ("shared",)),
    **dict.fromkeys(("cancel", "refer-after-advice"), ("own",)),
}
CONSULTATION_STEPS: dict[tuple[str, str], Mapping[str, object] | None] = {
    ("POST", "accept"): {"expert_ids": ["@practitioner.own"]},
    ("POST", "decline"): {"reason": "本院无此专科"},
    ("POST", "schedule"): {"starts_at": "2026-12-20T09:00:00+08:00"},
    ("GET", "free-times"): None, ("POST", "join"): None,
    ("POST", "attendance"): {"practitioner_ids": ["@practitioner.own"]},
    ("PUT", "report"): {"assessment": "稳定型心绞痛", "recommendations": "择期 PCI"},
    ("POST", "report/amendments"): {"text": "补充：复查心电图"},
    ("POST", "referral"): {"consent_recorded": True}, ("POST", "close"): {},
    ("POST", "cancel"): {"reason": "患者已转院"}, ("POST", "documents"): None,
}
CONSULTED_SIDES = {
    **dict.fromkeys(("accept", "decline", "schedule", "attendance"), ("shared",)),
    **dict.fromkeys(("referral", "cancel"), ("own",)),
    **dict.fromkeys(("report", "report/amendments"), ()),
}
CONSULTATIONS_BY = {**dict.fromkeys(("accept", "decline", "schedule", "attendance"), "PA HA"),
                    **dict.fromkeys(("report", "report/amendments"), "CL")}

RULES: dict[tuple[str, str], Rule] = {
    # ------------------------------------------------------------------ docs and sign-in
    ("GET", "/api/openapi.json"): rule(EVERYONE),
    ("GET", "/api/docs"): rule(EVERYONE),
    ("POST", "/api/v1/auth/token"): public(ok=(422,)),
    ("GET", "/api/v1/auth/me"): rule(EVERYONE),
    ("POST", "/api/v1/auth/revoke"): rule(EVERYONE, ok=(200, 204), last=True),
    ("GET", "/api/v1/users"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/users"): rule(REGISTRY_ADMINS),
    # Anyone may enrol a second factor (required for administrators and clerks): beginning
    # only keeps a pending secret, which the sweep never confirms.
    ("POST", "/api/v1/auth/totp/enrolment"): rule(EVERYONE, ok=(201,)),
    ("POST", "/api/v1/auth/totp/enrolment/confirm"): rule(EVERYONE),
    # Resetting a user's second factor: their hospital's administrator (or the platform's).
    ("DELETE", "/api/v1/users/{user_id}/totp"): rule(REGISTRY_ADMINS, "user"),
    # ------------------------------------------------------------------ audit trail
    ("GET", "/api/v1/audit"): rule(REGISTRY_ADMINS),
    # The whole trail of a period, for inspectors: the platform administrator alone.
    ("GET", "/api/v1/audit/export"): rule("PA", query={"from": "2026-01-01",
                                                       "to": "2026-12-31"}),
    ("GET", "/api/v1/audit/{audit_id}"): rule(REGISTRY_ADMINS, "audit"),
    ("GET", "/fhir/r4/AuditEvent/{resource_id}"): rule(REGISTRY_ADMINS, "audit"),
    ("GET", "/fhir/r4/AuditEvent"): rule(REGISTRY_ADMINS),
    # ------------------------------------------------------------------ FHIR: registry
    ("GET", "/fhir/r4/metadata"): public(),
    ("GET", "/fhir/r4/Organization/{resource_id}"): rule(EVERYONE, "institution",
                                                         HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("GET", "/fhir/r4/Organization"): rule(EVERYONE),
    ("GET", "/fhir/r4/Location/{resource_id}"): rule(EVERYONE, "department", **ANYWHERE),
    ("GET", "/fhir/r4/Location"): rule(EVERYONE),
    ("GET", "/fhir/r4/Practitioner/{resource_id}"): rule(EVERYONE, "practitioner",
                                                         HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("GET", "/fhir/r4/Practitioner"): rule(EVERYONE),
    ("GET", "/fhir/r4/PractitionerRole/{resource_id}"): rule(EVERYONE, "practitioner_role",
                                                             **ANYWHERE),
    ("GET", "/fhir/r4/PractitionerRole"): rule(EVERYONE),
    # ------------------------------------------------------------------ FHIR: results
    ("GET", "/fhir/r4/DiagnosticReport/{resource_id}"): rule(CLINICAL, "report",
                                                            patient_read=True),
    ("GET", "/fhir/r4/DiagnosticReport"): rule(CLINICAL),
    ("GET", "/fhir/r4/Observation/{resource_id}"): rule(CLINICAL, "observation",
                                                       patient_read=True),
    ("GET", "/fhir/r4/Observation"): rule(CLINICAL),
    ("GET", "/fhir/r4/ImagingStudy/{resource_id}"): rule(CLINICAL, "imaging",
                                                        patient_read=True),
    ("GET", "/fhir/r4/ImagingStudy"): rule(CLINICAL),
    ("POST", "/fhir/r4/DiagnosticReport"): rule(CLINICAL),
    ("POST", "/fhir/r4"): rule(CLINICAL),
    # ------------------------------------------------------------------ FHIR: referrals
    ("GET", "/fhir/r4/ServiceRequest/{resource_id}"): rule(CLINICAL, "referral",
                                                           patient_read=True),
    ("GET", "/fhir/r4/ServiceRequest"): rule(CLINICAL),
    ("GET", "/fhir/r4/Task/{resource_id}"): rule(CLINICAL, "referral", patient_read=True),
    ("GET", "/fhir/r4/Task"): rule(CLINICAL),
    ("POST", "/fhir/r4/ServiceRequest"): rule(CLINICAL),
    ("PUT", "/fhir/r4/ServiceRequest/{resource_id}"): rule(CLINICAL, "referral"),
    ("POST", "/fhir/r4/Task"): rule(CLINICAL),
    ("PUT", "/fhir/r4/Task/{resource_id}"): rule(CLINICAL, "referral"),
    # ------------------------------------------------------------------ FHIR: scheduling
    ("GET", "/fhir/r4/Schedule/{resource_id}"): rule(EVERYONE, "clinic", **ANYWHERE),
    ("GET", "/fhir/r4/Schedule"): rule(EVERYONE),
    ("GET", "/fhir/r4/Slot/{resource_id}"): rule(EVERYONE, "slot", **ANYWHERE),
    ("GET", "/fhir/r4/Slot"): rule(EVERYONE),
    # FHIR Appointment reads belong to booking (appointment.book), not to the roster.
    ("GET", "/fhir/r4/Appointment/{resource_id}"): rule("PA HA CL PT", "appointment",
                                                       patient_read=True),
    ("GET", "/fhir/r4/Appointment"): rule("PA HA CL PT"),
    ("POST", "/fhir/r4/Appointment"): rule("PA HA CL PT"),
    ("PUT", "/fhir/r4/Appointment/{resource_id}"): rule("PA HA CL PT", "appointment"),
    # ------------------------------------------------------------------ FHIR: encounters
    ("GET", "/fhir/r4/Encounter/{resource_id}"): rule(CLINICAL, "encounter",
                                                     patient_read=True),
    ("GET", "/fhir/r4/Encounter"): rule(CLINICAL),
    ("GET", "/fhir/r4/Procedure/{resource_id}"): rule(CLINICAL, "procedure",
                                                     patient_read=True),
    ("GET", "/fhir/r4/Procedure"): rule(CLINICAL),
    ("POST", "/fhir/r4/Encounter"): rule(CLINICAL),
    ("POST", "/fhir/r4/Procedure"): rule(CLINICAL),
    # ------------------------------------------------------------------ FHIR: patients
    ("POST", "/fhir/r4/Patient/$match"): rule(PATIENT_STAFF),
    ("GET", "/fhir/r4/Patient/{resource_id}"): rule(PATIENT_STAFF, "person",
                                                    patient_read=True),
    ("GET", "/fhir/r4/Patient"): rule(PATIENT_STAFF),
    ("POST", "/fhir/r4/Patient/_search"): rule(PATIENT_STAFF, ok=(200,)),
    ("POST", "/fhir/r4/Patient"): rule(PATIENT_STAFF),
    # ------------------------------------------------------------------ FHIR: settlement
    ("GET", "/fhir/r4/Coverage"): rule("PA HA IC PT", query={"patient": "@person.own"}),
    ("GET", "/fhir/r4/Claim"): rule("PA HA IC PT"),
    ("GET", "/fhir/r4/ClaimResponse"): rule("PA HA IC PT"),
    ("GET", "/fhir/r4/Coverage/{resource_id}"): rule("PA HA IC PT", "person",
                                                     patient_read=True),
    ("GET", "/fhir/r4/Claim/{resource_id}"): rule("PA HA IC PT", "settlement",
                                                  patient_read=True),
    ("GET", "/fhir/r4/ClaimResponse/{resource_id}"): rule("PA HA IC PT", "settlement",
                                                          patient_read=True),
    ("POST", "/fhir/r4/Claim"): rule("PA CL IC PT"),
    # ------------------------------------------------------------------ HL7 v2 intake
    ("POST", "/hl7/v2"): rule(PATIENT_STAFF),
    # ------------------------------------------------------------------ registry
    ("GET", "/api/v1/registry/regions"): rule(EVERYONE),
    ("GET", "/api/v1/registry/regions/{code}"): rule(EVERYONE, ok=(200,)),
    ("POST", "/api/v1/registry/regions"): rule("PA"),
    ("GET", "/api/v1/registry/institutions/export.csv"): rule(EVERYONE),
    ("GET", "/api/v1/registry/agreements/export.csv"): rule(EVERYONE),
    ("POST", "/api/v1/registry/import"): rule("PA"),
    ("GET", "/api/v1/registry/institutions"): rule(EVERYONE),
    ("GET", "/api/v1/registry/institutions/{institution_id}"): rule(
        EVERYONE, "institution", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("POST", "/api/v1/registry/institutions"): rule("PA"),
    ("PATCH", "/api/v1/registry/institutions/{institution_id}"): rule(REGISTRY_ADMINS,
                                                                      "institution",
        body={"name_en": "Sweep hospital"}),
    ("GET", "/api/v1/registry/institutions/{institution_id}/campuses"): rule(
        EVERYONE, "institution", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("GET", "/api/v1/registry/institutions/{institution_id}/departments"): rule(
        EVERYONE, "institution", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("POST", "/api/v1/registry/institutions/{institution_id}/departments"): rule(
        REGISTRY_ADMINS, "institution",
        body={"code": "SWEEP", "name": "扫描科", "specialty": "cardiology"}),
    ("GET", "/api/v1/registry/departments/{department_id}"): rule(
        EVERYONE, "department", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("PATCH", "/api/v1/registry/departments/{department_id}"): rule(REGISTRY_ADMINS,
                                                                    "department",
        body={"beds": 30}),
    ("GET", "/api/v1/registry/practitioners"): rule(EVERYONE),
    ("GET", "/api/v1/registry/practitioners/{practitioner_id}"): rule(
        EVERYONE, "practitioner", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("POST", "/api/v1/registry/practitioners"): rule(REGISTRY_ADMINS),
    ("PATCH", "/api/v1/registry/practitioners/{practitioner_id}"): rule(REGISTRY_ADMINS,
                                                                        "practitioner",
        body={"specialty": "cardiology"}),
    ("GET", "/api/v1/registry/practitioners/{practitioner_id}/roles"): rule(
        EVERYONE, "practitioner", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("GET", "/api/v1/registry/practitioner-roles"): rule(EVERYONE),
    ("POST", "/api/v1/registry/practitioner-roles"): rule(REGISTRY_ADMINS),
    ("GET", "/api/v1/registry/agreements"): rule(EVERYONE),
    ("GET", "/api/v1/registry/agreements/{agreement_id}"): rule(EVERYONE, "agreement",
                                                                **ANYWHERE),
    ("POST", "/api/v1/registry/agreements"): rule(REGISTRY_ADMINS),
    # An agreement is changed by its parties' administrators.
    ("PATCH", "/api/v1/registry/agreements/{agreement_id}"): rule(
        REGISTRY_ADMINS, "agreement", body={"description": "访问矩阵"}),
    # ------------------------------------------------------------------ patient index
    ("POST", "/api/v1/patients/records"): rule(PATIENT_STAFF),
    ("GET", "/api/v1/patients/records/{record_id}"): rule(PATIENT_STAFF, "record",
                                                          patient_read=True),
    # A hospital changes its own records only, not those of a patient shared with it.
    ("PATCH", "/api/v1/patients/records/{record_id}"): rule(PATIENT_STAFF, "record",
                                                            own_cases=("own",),
        body={"address": "河北省怀来县沙城镇"}),
    ("POST", "/api/v1/patients/records/{record_id}/detach"): rule(REGISTRY_ADMINS, "record",
                                                                  own_cases=("own",)),
    ("GET", "/api/v1/patients/reviews"): rule(REGISTRY_ADMINS),
    # A possible duplicate is decided by the hospital that holds both records.
    ("GET", "/api/v1/patients/reviews/{review_id}"): rule(REGISTRY_ADMINS, "review"),
    ("POST", "/api/v1/patients/reviews/{review_id}/decision"): rule(
        REGISTRY_ADMINS, "review", body={"same_person": False, "reason": "核对身份证：另一人"}),
    ("POST", "/api/v1/patients/merges"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/patients/merges/{event_id}/undo"): rule(
        REGISTRY_ADMINS, "merge", body={"reason": "误合并"}),
    ("GET", "/api/v1/patients"): rule(PATIENT_STAFF),
    ("GET", "/api/v1/patients/{person_id}"): rule(PATIENT_STAFF, "person", patient_read=True),
    ("GET", "/api/v1/patients/{person_id}/history"): rule(PATIENT_STAFF, "person",
                                                          patient_read=True),
    ("GET", "/api/v1/patients/{person_id}/shares"): rule(PATIENT_STAFF, "person",
                                                         patient_read=True),
    ("POST", "/api/v1/patients/{person_id}/shares"): rule(CLINICAL, "person",
        body={"institution_id": "@institution.other", "reason": "会诊"}),
    # A placeholder share id: an allowed caller who sees the patient hears "no such share".
    ("DELETE", "/api/v1/patients/{person_id}/shares/{share_id}"): rule(
        CLINICAL, "person", fills={"share_id": "share"}),
    # ------------------------------------------------------------------ settlement
    ("POST", "/api/v1/settlement/settlements"): rule("IC"),
    ("GET", "/api/v1/settlement/settlements"): rule("PA HA IC PT"),
    ("GET", "/api/v1/settlement/settlements/{settlement_id}"): rule(
        "PA HA IC PT", "settlement", patient_read=True),
    ("POST", "/api/v1/settlement/settlements/{settlement_id}/reversal"): rule(
        "IC", "settlement",
        body={"reason": "billing_error"}),
    ("POST", "/api/v1/settlement/settlements/{settlement_id}/payment"): rule(
        "IC PT", "settlement",
        body={}),
    ("POST", "/api/v1/settlement/settlements/{settlement_id}/refund"): rule(
        "IC", "settlement",
        body={}),
    ("POST", "/api/v1/settlement/estimates"): rule("PA CL IC PT"),
    ("GET", "/api/v1/settlement/coverage/{person_id}"): rule("PA HA IC PT", "person",
                                                             patient_read=True),
    ("PUT", "/api/v1/settlement/coverage/{person_id}"): rule("PA IC", "person",
        body={"insured_region_code": "130730", "scheme": "resident"}),
    ("GET", "/api/v1/settlement/clearing"): rule("PA CA IC", query={"month": "2026-05"}),
    ("GET", "/api/v1/settlement/clearing.{fmt}"): rule("PA CA IC", query={"month": "2026-05"}),
    # ------------------------------------------------------------------ referrals
    ("POST", "/api/v1/referrals"): rule(CLINICAL),
    ("GET", "/api/v1/referrals"): rule(CLINICAL),
    ("GET", "/api/v1/referrals/{referral_id}"): rule(CLINICAL, "referral", patient_read=True),
    # Sending a draft is the referring side's: A refers the own case, B the shared one.
    ("POST", "/api/v1/referrals/{referral_id}/submit"): rule(CLINICAL, "referral",
                                                             own_cases=("own",)),
    # Each step is one side's: the receiving side's (A receives the shared case) or the
    # referring side's (A refers the own case); notes, clock times, documents and the
    # booking either side's.
    **{("POST", f"/api/v1/referrals/{{referral_id}}/{step}"): rule(
        CLINICAL, "referral", body=body, own_cases=SIDES.get(step))
       for step, body in REFERRAL_STEPS.items()},
    ("GET", "/api/v1/referrals/{referral_id}/documents/{document_id}"): rule(
        CLINICAL, "referral", fills={"document_id": "referral_document"}, patient_read=True),
    ("PUT", "/api/v1/departments/{department_id}/beds"): rule(CLINICAL, "department",
        body={"wards": [{"ward": "一病区", "free_beds": 3, "total_beds": 40}]}),
    # Any hospital's free beds, for those who refer patients (referral.read).
    ("GET", "/api/v1/institutions/{institution_id}/beds"): rule(
        CLINICAL, "institution", HA=ALL, CL=ALL),
    # ------------------------------------------------------------------ notifications
    ("GET", "/api/v1/inbox"): rule(EVERYONE),
    ("GET", "/api/v1/inbox/unread-count"): rule(EVERYONE),
    ("POST", "/api/v1/inbox/{item_id}/read"): rule(EVERYONE, "inbox", own_cases=("own",),
                                                   **MINE),
    ("POST", "/api/v1/inbox/read-all"): rule(EVERYONE),
    ("GET", "/api/v1/inbox/contact"): rule(EVERYONE, ok=(404,)),  # no address set yet
    ("PUT", "/api/v1/inbox/contact"): rule(EVERYONE),
    ("GET", "/api/v1/notify/webhooks"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/notify/webhooks"): rule(REGISTRY_ADMINS),
    ("GET", "/api/v1/notify/webhooks/{subscription_id}"): rule(REGISTRY_ADMINS, "webhook"),
    ("PATCH", "/api/v1/notify/webhooks/{subscription_id}"): rule(REGISTRY_ADMINS, "webhook",
        body={"description": "sweep"}),
    ("POST", "/api/v1/notify/webhooks/{subscription_id}/secret"): rule(REGISTRY_ADMINS,
                                                                       "webhook"),
    ("GET", "/api/v1/notify/webhooks/{subscription_id}/deliveries"): rule(REGISTRY_ADMINS,
                                                                          "webhook"),
    ("POST", "/api/v1/notify/outbox/{message_id}/requeue"): rule(REGISTRY_ADMINS, "message"),
    # ------------------------------------------------------------------ results, recognition
    ("POST", "/api/v1/recognition/check"): rule("PA CL"),
    ("POST", "/api/v1/recognition/decisions"): rule("PA CL"),
    ("GET", "/api/v1/recognition/savings"): rule("PA CA HA"),
    ("POST", "/api/v1/results"): rule(CLINICAL),
    ("GET", "/api/v1/results/{report_id}"): rule(CLINICAL, "report", patient_read=True),
    ("GET", "/api/v1/recognition/items"): rule(EVERYONE),
    ("POST", "/api/v1/recognition/catalogue"): rule("PA"),
    ("POST", "/api/v1/recognition/qualifications"): rule("PA"),
    ("POST", "/api/v1/recognition/qualifications/import"): rule("PA"),
    # ------------------------------------------------------------------ scheduling
    ("GET", "/api/v1/scheduling/institutions/{institution_id}/stationings"): rule(
        EVERYONE, "institution", HA=ALL, CL=ALL, IC=ALL, PT=ALL),
    ("POST", "/api/v1/scheduling/stationings"): rule(REGISTRY_ADMINS),
    ("GET", "/api/v1/scheduling/sessions"): rule(EVERYONE),
    ("POST", "/api/v1/scheduling/sessions"): rule(REGISTRY_ADMINS),
    ("GET", "/api/v1/scheduling/slots"): rule(EVERYONE,
                                              query={"department_id": "@department.own"}),
    ("POST", "/api/v1/scheduling/exceptions"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/scheduling/appointments"): rule("PA HA CL PT"),
    ("GET", "/api/v1/scheduling/appointments/mine"): rule(EVERYONE),
    # A patient's appointments are patient data: the commission sees none of them; marking
    # one arrived or missed is the clinic's (scheduling.appointment.manage).
    ("GET", "/api/v1/scheduling/appointments/{appointment_id}"): rule(
        PATIENT_STAFF + " PT", "appointment", patient_read=True),
    ("POST", "/api/v1/scheduling/appointments/{appointment_id}/cancel"): rule(
        PATIENT_STAFF + " PT", "appointment",
        body={}),
    ("POST", "/api/v1/scheduling/appointments/{appointment_id}/status"): rule(
        CLINICAL, "appointment", own_cases=("own",),
        body={"status": "arrived"}),
    ("POST", "/api/v1/scheduling/checkin"): rule("PA HA CL PT"),
    ("GET", "/api/v1/scheduling/sessions/{clinic_session_id}/queue"): rule(CLINICAL, "clinic"),
    ("POST", "/api/v1/scheduling/sessions/{clinic_session_id}/call-next"): rule(CLINICAL,
                                                                                "clinic"),
    ("GET", "/api/v1/scheduling/trainees"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/scheduling/trainees"): rule(REGISTRY_ADMINS),
    ("POST", "/api/v1/scheduling/trainees/{traineeship_id}/status"): rule(REGISTRY_ADMINS),
    # ------------------------------------------------------------------ consultations
    ("GET", "/api/v1/consultations/counts"): rule("PA CA HA"),
    ("GET", "/api/v1/consultations/counts.{fmt}"): rule("PA CA HA"),
    ("POST", "/api/v1/consultations"): rule(CLINICAL),
    ("GET", "/api/v1/consultations"): rule(CLINICAL),
    ("GET", "/api/v1/consultations/{consultation_id}"): rule(CLINICAL, "consultation",
                                                              patient_read=True),
    # Each step is one side's, as for referrals: the consulted side's (A is asked in the
    # shared case), its coordinator's alone for the timetable, the requesting side's for a
    # referral from the report; the report is an assigned expert's, and the world has none.
    **{(method, f"/api/v1/consultations/{{consultation_id}}/{step}"): rule(
        CONSULTATIONS_BY.get(step, CLINICAL), "consultation", body=body,
        own_cases=CONSULTED_SIDES.get(step))
       for (method, step), body in CONSULTATION_STEPS.items() if step != "close"},
    # Closing is the consulted coordinator's or the requesting side's.
    ("POST", "/api/v1/consultations/{consultation_id}/close"): rule(
        CLINICAL, "consultation", body={}, role_cases={"CL": ("own",)}),
    # Starting is the consulted side's (its coordinator, or an assigned expert): A is
    # consulted in the shared case only. Signing is an assigned expert's alone, and the
    # world has none, so every clinician is refused it.
    ("POST", "/api/v1/consultations/{consultation_id}/start"): rule(
        "PA HA", "consultation", own_cases=("shared",)),
    ("POST", "/api/v1/consultations/{consultation_id}/report/sign"): rule(
        "CL", "consultation", own_cases=()),
    # A placeholder document id: an allowed caller who sees the consultation hears "no such
    # document".
    ("GET", "/api/v1/consultations/{consultation_id}/documents/{document_id}"): rule(
        CLINICAL, "consultation", fills={"document_id": "consultation_document"},
        patient_read=True),
    # ------------------------------------------------------------------ analytics
    ("GET", "/api/v1/analytics/volumes"): rule("PA CA HA CL"),
    ("GET", "/api/v1/analytics/volumes.{fmt}"): rule("PA CA HA CL"),
    ("POST", "/api/v1/analytics/encounters"): rule(CLINICAL),
    ("GET", "/api/v1/analytics/network"): rule("PA CA HA CL"),
    ("GET", "/api/v1/analytics/network.{fmt}"): rule("PA CA HA CL"),
    ("GET", "/api/v1/analytics/programme"): rule("PA CA HA CL"),
    ("GET", "/api/v1/analytics/programme.{fmt}"): rule("PA CA HA CL"),
    ("GET", "/api/v1/analytics/overview"): rule("PA CA HA CL", query=REGION),
    ("GET", "/api/v1/analytics/institutions/{institution_id}"): rule("PA CA HA CL",
                                                                     "institution"),
    ("GET", "/api/v1/analytics/institutions/{institution_id}/series.{fmt}"): rule(
        "PA CA HA CL", "institution"),
    ("GET", "/api/v1/analytics/outflow"): rule("PA CA HA CL", query=REGION),
    ("GET", "/api/v1/analytics/outflow.{fmt}"): rule("PA CA HA CL", query=REGION),
    **{("GET", f"/api/v1/analytics/{name}"): rule("PA CA HA CL")
       for name in ("referrals", "green-channel", "consultations", "clinics", "recognition",
                    "settlement")},
    ("GET", "/api/v1/analytics/{name}.{fmt}"): rule("PA CA HA CL"),
    # ------------------------------------------------------------------ where-to-go advisor
    ("POST", "/api/v1/advisor/rank"): rule("PA HA CL IC PT"),
}

# Values for path parameters that name no seeded thing.
FIXED_PARAMETERS = {"fmt": "csv", "name": "referrals", "code": "130730"}
PLACEHOLDER_ID = "999999"
