"""What a patient sees of their own referrals: where they are sent, where it stands in plain
words, the appointment or bed, and what to bring.

Only a patient's own account (``User.person_id``) reads this, and only the referrals of
that person (and of the records merged into them): never a draft, never another patient's.
The texts are English message ids (``N_``), shown through the Chinese catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth.models import Role
from yilian.auth.permissions import Principal
from yilian.errors import PermissionDenied
from yilian.patients import service as patients
from yilian.portal.pages import N_
from yilian.referrals.models import Referral, ReferralKind, TaskStatus, Urgency

# Before the patient arrives: the time to tell them what to bring.
UPCOMING = frozenset({TaskStatus.REQUESTED, TaskStatus.RECEIVED, TaskStatus.ACCEPTED,
                      TaskStatus.READY})


def own_referrals(session: Session, principal: Principal) -> Sequence[Referral]:
    """The signed-in patient's own sent referrals, newest first; the read is audited."""
    if principal.role is not Role.PATIENT or principal.person_id is None:
        raise PermissionDenied("只有患者本人的账户可以查看“我的转诊”",
                               "Only a patient's own account has “My referrals”",
                               action="referral.own.read")
    person = patients.current_person(session, person_id=principal.person_id)
    if person is None:
        return []
    rows = session.scalars(
        select(Referral)
        .where(Referral.person_id.in_(patients.lineage_ids(session, person)),
               Referral.status != TaskStatus.DRAFT)
        .order_by(Referral.id.desc())
    ).all()
    audit.record(session, action="referral.own.read", entity_type="person",
                 entity_id=str(person.id), patient_id=person.id,
                 detail={"returned": [row.id for row in rows]})
    return rows


def plain_status(referral: Referral) -> str:
    """Where the referral stands, as the patient would say it (a message id; ``%(place)s``
    is the receiving hospital)."""
    status = referral.status
    if status in (TaskStatus.REQUESTED, TaskStatus.RECEIVED):
        return N_("Your doctor has sent the referral. Waiting for %(place)s to answer; "
                  "you will see the answer here.")
    if status is TaskStatus.ACCEPTED:
        return N_("%(place)s has agreed to take you. The appointment is being arranged.")
    if status is TaskStatus.READY:
        return N_("Your appointment at %(place)s is booked. Please go at the time below.")
    if status is TaskStatus.IN_PROGRESS:
        return N_("You are being cared for at %(place)s.")
    if status is TaskStatus.COMPLETED:
        if referral.advice and referral.arrived_at is None:
            return N_("The specialist at %(place)s answered your doctor with advice instead. "
                      "Your doctor will tell you what comes next.")
        return N_("Your care at %(place)s is finished; your doctor has the discharge summary "
                  "and the follow-up plan.")
    if status is TaskStatus.REJECTED:
        return N_("%(place)s could not take this referral. Your doctor will talk with you "
                  "about where to go instead.")
    if status is TaskStatus.CANCELLED:
        return N_("This referral was withdrawn. Ask your doctor if you have questions.")
    if status is TaskStatus.FAILED:
        return N_("This referral did not go ahead (the visit was missed or the referral "
                  "expired). Ask your doctor if you still need it.")
    return N_("Your doctor is still preparing this referral.")


def what_to_bring(referral: Referral) -> list[str]:
    """What the patient should bring to the receiving hospital (message ids), or nothing
    once they have arrived or the referral has ended."""
    if referral.status not in UPCOMING:
        return []
    items = [
        N_("Your resident ID card"),
        N_("Your medical insurance card or electronic insurance code"),
        N_("This referral's number (or this page)"),
        N_("Recent test results, images and discharge letters (results recognised across "
           "the network are not repeated)"),
        N_("The medicines you take now, or a list of them"),
    ]
    if referral.kind is ReferralKind.INPATIENT:
        items.append(N_("Daily necessities for a hospital stay, and a family member to "
                        "accompany you"))
    if referral.kind is ReferralKind.EXAMINATION:
        items.append(N_("Ask whether you must fast before the examination"))
    return items


def go_now(referral: Referral) -> bool:
    """An emergency or green-channel referral: go to the emergency department at once."""
    return referral.status in UPCOMING and (
        referral.urgency is Urgency.EMERGENCY or referral.green_channel is not None)


@dataclass(frozen=True)
class PatientCard:
    """One referral as the patient's page shows it."""

    referral: Referral
    status_text: str
    bring: list[str]
    go_now: bool
    appointment_code: str = ""
    appointment_id: int | None = None


def card_of(referral: Referral, *, appointment_code: str = "",
            appointment_id: int | None = None) -> PatientCard:
    """The referral's card for its patient."""
    return PatientCard(referral=referral, status_text=plain_status(referral),
                       bring=what_to_bring(referral), go_now=go_now(referral),
                       appointment_code=appointment_code, appointment_id=appointment_id)
