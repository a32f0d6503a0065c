"""Who may do what: the rule table of role × action, and institution scoping.

Every permission check in Yilian goes through :func:`authorize`; routes declare it with
``RequirePermission`` (see dependencies.py) and services call it where the institution
concerned is only known after loading a record. Later capabilities add actions here and
reuse :class:`Principal.institution_ids` to scope patient data.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from yilian.auth.models import NETWORK_ROLES, Role
from yilian.errors import PermissionDenied


class Action(enum.StrEnum):
    """Something a user may be allowed to do."""

    REGISTRY_READ = "registry.read"
    REGISTRY_IMPORT = "registry.import"
    REGION_WRITE = "registry.region.write"
    INSTITUTION_CREATE = "registry.institution.create"
    INSTITUTION_UPDATE = "registry.institution.update"
    DEPARTMENT_WRITE = "registry.department.write"
    PRACTITIONER_WRITE = "registry.practitioner.write"
    PRACTITIONER_ROLE_WRITE = "registry.practitioner_role.write"
    AGREEMENT_WRITE = "registry.agreement.write"
    USER_MANAGE = "auth.user.manage"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"  # the whole trail of a period, for inspectors
    PATIENT_READ = "patient.read"
    PATIENT_WRITE = "patient.write"
    PATIENT_LINK = "patient.link"  # review queue, merge, unmerge
    PATIENT_SHARE = "patient.share"
    # notifications
    INBOX_READ = "notify.inbox"  # one's own inbox and email address
    WEBHOOK_MANAGE = "notify.webhook.manage"  # subscriptions and their delivery log
    # settlement
    SETTLEMENT_READ = "settlement.read"
    SETTLEMENT_SETTLE = "settlement.settle"  # 2207, and reversal 2208
    SETTLEMENT_ESTIMATE = "settlement.estimate"
    SETTLEMENT_PAY = "settlement.pay"  # 自助缴费
    SETTLEMENT_CLEARING = "settlement.clearing"
    COVERAGE_WRITE = "settlement.coverage.write"
    # results
    RESULT_READ = "result.read"
    RESULT_WRITE = "result.write"
    RESULT_CHECK = "result.check"  # recognition check, accept or re-test
    RESULT_CATALOGUE = "result.catalogue"  # catalogue and qualifications
    RESULT_SAVINGS = "result.savings"  # the savings ledger's totals
    # referrals
    REFERRAL_READ = "referral.read"
    REFERRAL_WRITE = "referral.write"  # make, send, cancel, notes (referring side)
    REFERRAL_RESPOND = "referral.respond"  # accept, decline, book, admit, discharge (receiving)
    BED_CENSUS_WRITE = "referral.bed_census.write"
    # scheduling
    SCHEDULE_READ = "scheduling.read"
    SCHEDULE_WRITE = "scheduling.schedule.write"
    STATIONING_WRITE = "scheduling.stationing.write"
    APPOINTMENT_BOOK = "scheduling.appointment.book"
    APPOINTMENT_MANAGE = "scheduling.appointment.manage"
    APPOINTMENT_CHECKIN = "scheduling.appointment.checkin"
    # consultations
    CONSULTATION_READ = "consultation.read"
    CONSULTATION_REQUEST = "consultation.request"  # ask, attach, cancel (requesting side)
    CONSULTATION_COORDINATE = "consultation.coordinate"  # accept, assign, schedule, close
    CONSULTATION_GIVE = "consultation.give"  # an assigned expert: start, write, sign
    CONSULTATION_COUNTS = "consultation.counts"  # the analytics counts
    # analytics
    ENCOUNTER_READ = "analytics.encounter.read"  # patient-level encounters
    ENCOUNTER_WRITE = "analytics.encounter.write"  # intake: FHIR, HL7 v2 ADT, CSV
    ANALYTICS_READ = "analytics.read"  # aggregate metrics and dashboards
    # where-to-go advisor
    ADVISOR_RANK = "advisor.rank"  # rank the places a patient may go, with their costs


class Scope(enum.Enum):
    """How far an allowed action reaches."""

    NETWORK = "network"  # any institution
    OWN = "own"  # the user's institution and the campuses it runs


N, OWN = Scope.NETWORK, Scope.OWN

# The rule table. A role missing from an action's row may not do it at all.
RULES: Mapping[Action, Mapping[Role, Scope]] = {
    Action.REGISTRY_READ: {role: N for role in Role},
    Action.REGISTRY_IMPORT: {Role.PLATFORM_ADMIN: N},
    Action.REGION_WRITE: {Role.PLATFORM_ADMIN: N},
    Action.INSTITUTION_CREATE: {Role.PLATFORM_ADMIN: N},
    Action.INSTITUTION_UPDATE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.DEPARTMENT_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.PRACTITIONER_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.PRACTITIONER_ROLE_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.AGREEMENT_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.USER_MANAGE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.AUDIT_READ: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.AUDIT_EXPORT: {Role.PLATFORM_ADMIN: N},
    # Patients: staff see their own institutions' patients and those shared with them; the
    # platform administrator stewards the whole index. Analysts see only aggregates.
    Action.PATIENT_READ: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
        Role.INSURANCE_CLERK: OWN,
    },
    Action.PATIENT_WRITE: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
        Role.INSURANCE_CLERK: OWN,
    },
    Action.PATIENT_LINK: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.PATIENT_SHARE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    # notifications
    Action.INBOX_READ: {role: N for role in Role},
    Action.WEBHOOK_MANAGE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    # settlement: the treating institution's insurance clerks settle and reverse; a patient
    # reads and pays only their own settlements (the service checks Principal.person_id).
    Action.SETTLEMENT_READ: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.INSURANCE_CLERK: OWN,
        Role.PATIENT: OWN,
    },
    Action.SETTLEMENT_SETTLE: {Role.INSURANCE_CLERK: OWN},
    Action.SETTLEMENT_ESTIMATE: {
        Role.PLATFORM_ADMIN: N,
        Role.INSURANCE_CLERK: OWN,
        Role.CLINICIAN: OWN,
        Role.PATIENT: OWN,
    },
    Action.SETTLEMENT_PAY: {Role.INSURANCE_CLERK: OWN, Role.PATIENT: OWN},
    Action.SETTLEMENT_CLEARING: {
        Role.PLATFORM_ADMIN: N,
        Role.COMMISSION_ANALYST: N,
        Role.INSURANCE_CLERK: OWN,
    },
    Action.COVERAGE_WRITE: {Role.PLATFORM_ADMIN: N, Role.INSURANCE_CLERK: OWN},
    # results
    Action.RESULT_READ: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    Action.RESULT_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    Action.RESULT_CHECK: {Role.PLATFORM_ADMIN: N, Role.CLINICIAN: OWN},
    Action.RESULT_CATALOGUE: {Role.PLATFORM_ADMIN: N},
    Action.RESULT_SAVINGS: {
        Role.PLATFORM_ADMIN: N, Role.COMMISSION_ANALYST: N, Role.HOSPITAL_ADMIN: OWN,
    },
    # referrals: both sides' clinicians and administrators; the platform administrator anywhere
    Action.REFERRAL_READ: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    Action.REFERRAL_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    Action.REFERRAL_RESPOND: {
        Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN,
    },
    Action.BED_CENSUS_WRITE: {
        Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN,
    },
    # scheduling: anyone signed in sees rosters and free slots; patients book for themselves,
    # staff for patients they may see, at any institution (a referral books a Beijing slot);
    # a clinic's queue and check-in desk belong to the institution holding the clinic.
    Action.SCHEDULE_READ: {role: N for role in Role},
    Action.SCHEDULE_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.STATIONING_WRITE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.APPOINTMENT_BOOK: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: N,
        Role.CLINICIAN: N,
        Role.PATIENT: N,
    },
    Action.APPOINTMENT_MANAGE: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
    },
    Action.APPOINTMENT_CHECKIN: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
        Role.PATIENT: N,
    },
    # consultations: clinicians of either institution read and request; the target
    # institution's coordinator is its hospital administrator (医务处/远程医学中心 assigns
    # the experts and sets the time); an assigned expert (a clinician linked to their
    # practitioner record) writes and signs, which the service checks by name.
    Action.CONSULTATION_READ: {
        Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN,
    },
    Action.CONSULTATION_REQUEST: {
        Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN,
    },
    Action.CONSULTATION_COORDINATE: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN},
    Action.CONSULTATION_GIVE: {Role.CLINICIAN: OWN},
    Action.CONSULTATION_COUNTS: {
        Role.PLATFORM_ADMIN: N, Role.COMMISSION_ANALYST: N, Role.HOSPITAL_ADMIN: OWN,
    },
    # analytics: hospitals send and read their own encounters; analysts read aggregates only,
    # for their region (the service narrows a NETWORK scope to the analyst's region).
    Action.ENCOUNTER_READ: {Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN},
    Action.ENCOUNTER_WRITE: {
        Role.PLATFORM_ADMIN: N, Role.HOSPITAL_ADMIN: OWN, Role.CLINICIAN: OWN,
    },
    Action.ANALYTICS_READ: {
        Role.PLATFORM_ADMIN: N,
        Role.COMMISSION_ANALYST: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
    },
    # advisor: staff for the patients they may see (patients/access.py decides), a patient
    # for themself; analysts see no patient.
    Action.ADVISOR_RANK: {
        Role.PLATFORM_ADMIN: N,
        Role.HOSPITAL_ADMIN: OWN,
        Role.CLINICIAN: OWN,
        Role.INSURANCE_CLERK: OWN,
        Role.PATIENT: OWN,
    },
}

ROLE_NAMES: Mapping[Role, tuple[str, str]] = {
    Role.PLATFORM_ADMIN: ("平台管理员", "Platform administrator"),
    Role.COMMISSION_ANALYST: ("卫健委分析员", "Health commission analyst"),
    Role.HOSPITAL_ADMIN: ("医院管理员", "Hospital administrator"),
    Role.CLINICIAN: ("临床医生", "Clinician"),
    Role.INSURANCE_CLERK: ("医保结算员", "Insurance clerk"),
    Role.PATIENT: ("患者", "Patient"),
}


@dataclass(frozen=True)
class Principal:
    """The signed-in user as the rules see them.

    ``institution_ids`` is the user's institution plus every campus it runs (institutions
    whose parent it is): a lead hospital administers its trusteed county campus.
    """

    user_id: int
    username: str
    role: Role
    institution_id: int | None
    institution_ids: frozenset[int]
    display_name: str = ""
    # For a patient's account: their person in the patient index (None for staff).
    person_id: int | None = None
    # A clinician's record in the registry, so what they send names them (None otherwise).
    practitioner_id: int | None = None

    @property
    def is_network_wide(self) -> bool:
        """True for roles that act for the whole network (admins, analysts)."""
        return self.role in NETWORK_ROLES


def scope_of(principal: Principal, action: Action) -> Scope | None:
    """How far the principal may take the action, or None when not at all."""
    return RULES.get(action, {}).get(principal.role)


def is_allowed(
    principal: Principal, action: Action, institution_ids: Iterable[int] | None = None
) -> bool:
    """Whether the principal may do the action on something owned by these institutions.

    With ``institution_ids`` None the question is whether the action is allowed at all
    (the route-level check). With ids, an OWN scope needs every one of them in reach,
    except for agreements, where being one of the parties is enough.
    """
    scope = scope_of(principal, action)
    if scope is None:
        return False
    if scope is Scope.NETWORK or institution_ids is None:
        return True
    wanted = set(institution_ids)
    if action is Action.AGREEMENT_WRITE:
        return bool(wanted & principal.institution_ids)
    return bool(wanted) and wanted <= principal.institution_ids


def authorize(
    principal: Principal, action: Action, institution_ids: Iterable[int] | None = None
) -> None:
    """Raise PermissionDenied unless :func:`is_allowed`."""
    if not is_allowed(principal, action, institution_ids):
        zh_role, en_role = ROLE_NAMES[principal.role]
        target = "" if institution_ids is None else "（非本机构）"
        target_en = "" if institution_ids is None else " for another institution"
        raise PermissionDenied(
            f"{zh_role}无权执行此操作{target}：{action.value}",
            f"A {en_role.lower()} may not do this{target_en}: {action.value}",
            action=action.value,
        )
