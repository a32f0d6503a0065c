"""How long a referral shares the patient's records with the receiving institution.

Accepting shares them (the patient index's access rule, reason ``referral``, source
``ServiceRequest/<id>``) for the referral's lifetime, at most ``YILIAN_REFERRAL_SHARE_DAYS``.
The lifetime ends with the referral: declined, cancelled or failed, the share is revoked at
once; completed, it is revoked and a follow-up share takes its place for
``YILIAN_REFERRAL_FOLLOW_UP_SHARE_DAYS`` (see :func:`rules.follow_up_share_until`). Both go
through the patient index's own ``share_person`` / ``revoke_share``, so the index keeps
every share with the time it was revoked; every change is audited.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import Settings
from yilian.db import utcnow
from yilian.patients import service as patients
from yilian.patients.models import PatientShare, Person, SharingReason
from yilian.patients.schemas import ShareCreate
from yilian.referrals import rules
from yilian.referrals.models import Referral


def share_records(session: Session, settings: Settings, *, referral: Referral) -> None:
    """Let the receiving institution see the patient's records for the referral's lifetime:
    at most ``YILIAN_REFERRAL_SHARE_DAYS``, ended early by :func:`end_sharing` or narrowed to
    the follow-up window by :func:`keep_for_follow_up`."""
    person = patients.current_person(session, person_id=referral.person_id)
    if person is None:
        return
    patients.share_person(
        session, None, person=person,
        data=ShareCreate(
            institution_id=referral.target_institution_id, reason=SharingReason.REFERRAL,
            source_ref=_share_ref(referral),
            expires_at=utcnow() + timedelta(days=settings.referral_share_days),
        ),
    )
    audit.record(session, action="referral.share", entity_type="referral",
                 entity_id=str(referral.id), institution_id=referral.target_institution_id,
                 patient_id=person.id)


def _share_ref(referral: Referral) -> str:
    return f"ServiceRequest/{referral.id}"


def live_shares(session: Session, *, referral: Referral) -> tuple[Person | None,
                                                                  list[PatientShare]]:
    """The patient (as the index now knows them) and the shares this referral holds open."""
    person = patients.current_person(session, person_id=referral.person_id)
    if person is None:
        return None, []
    now = utcnow()
    return person, [
        share for share in patients.list_shares(session, person=person)
        if share.reason is SharingReason.REFERRAL and share.source_ref == _share_ref(referral)
        and share.institution_id == referral.target_institution_id
        and share.revoked_at is None and (share.expires_at is None or share.expires_at > now)
    ]


def _revoke(session: Session, *, person: Person, shares: list[PatientShare]) -> list[int]:
    for share in shares:  # the patient index's own revocation: the row stays, dated
        patients.revoke_share(session, None, person=person, share_id=share.id)
    return [share.id for share in shares]


def end_sharing(session: Session, *, referral: Referral) -> list[int]:
    """The referral ended without care (declined, cancelled, failed): the receiving
    institution stops seeing the patient's records through it at once; audited."""
    person, shares = live_shares(session, referral=referral)
    if person is None or not shares:
        return []
    revoked = _revoke(session, person=person, shares=shares)
    audit.record(session, action="referral.share.end", entity_type="referral",
                 entity_id=str(referral.id), institution_id=referral.target_institution_id,
                 patient_id=person.id,
                 detail={"revoked": revoked, "status": referral.status.value})
    return revoked


def keep_for_follow_up(session: Session, settings: Settings, *,
                       referral: Referral) -> PatientShare | None:
    """The referral is completed: its share ends and a follow-up share takes its place, until
    :func:`rules.follow_up_share_until` (both kept in the index's history); audited."""
    person, shares = live_shares(session, referral=referral)
    if person is None or not shares:
        return None  # never accepted (answered with advice), or already ended
    revoked = _revoke(session, person=person, shares=shares)
    until = rules.follow_up_share_until(settings, referral.completed_at or utcnow())
    follow_up = patients.share_person(
        session, None, person=person,
        data=ShareCreate(institution_id=referral.target_institution_id,
                         reason=SharingReason.REFERRAL, source_ref=_share_ref(referral),
                         expires_at=until),
    )
    audit.record(session, action="referral.share.follow_up", entity_type="referral",
                 entity_id=str(referral.id), institution_id=referral.target_institution_id,
                 patient_id=person.id,
                 detail={"revoked": revoked, "share": follow_up.id,
                         "expires_at": until.isoformat()})
    return follow_up
