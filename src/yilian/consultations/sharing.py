"""While a consultation is open, the consulted institution sees its patients' records.

Requesting shares them (the patient index's access rule, reason ``consultation``, source
``Consultation/<id>``) for at most ``YILIAN_CONSULTATION_SHARE_DAYS``; declining,
cancelling or closing revokes the share at once. Both go through the patient index's own
``share_person`` / ``revoke_share``, which keep the history; every change is audited.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.config import Settings
from yilian.consultations.models import Consultation
from yilian.db import utcnow
from yilian.patients import service as patients
from yilian.patients.models import PatientShare, SharingReason
from yilian.patients.schemas import ShareCreate


def share_ref(consultation: Consultation) -> str:
    """The source the shares of this consultation carry."""
    return f"Consultation/{consultation.id}"


def share_records(session: Session, settings: Settings, *, consultation: Consultation) -> None:
    """Let the consulted institution see every patient of the session; audited."""
    for entry in consultation.patients:
        person = patients.current_person(session, person_id=entry.person_id)
        if person is None:
            continue
        patients.share_person(session, None, person=person, data=ShareCreate(
            institution_id=consultation.target_institution_id,
            reason=SharingReason.CONSULTATION, source_ref=share_ref(consultation),
            expires_at=utcnow() + timedelta(days=settings.consultation_share_days)))
        audit.record(session, action="consultation.share", entity_type="consultation",
                     entity_id=str(consultation.id),
                     institution_id=consultation.target_institution_id, patient_id=person.id)


def live_shares(session: Session, *, consultation: Consultation) -> list[PatientShare]:
    """The shares this consultation holds open."""
    now = utcnow()
    shares = []
    for entry in consultation.patients:
        person = patients.current_person(session, person_id=entry.person_id)
        if person is None:
            continue
        shares += [
            share for share in patients.list_shares(session, person=person)
            if share.reason is SharingReason.CONSULTATION
            and share.source_ref == share_ref(consultation)
            and share.institution_id == consultation.target_institution_id
            and share.revoked_at is None and (share.expires_at is None or share.expires_at > now)
        ]
    return shares


def end_sharing(session: Session, *, consultation: Consultation) -> list[int]:
    """The consultation ended: the consulted institution stops seeing its patients' records
    through it at once; audited."""
    revoked = []
    for share in live_shares(session, consultation=consultation):
        person = patients.current_person(session, person_id=share.person_id)
        if person is None:
            continue
        patients.revoke_share(session, None, person=person, share_id=share.id)
        revoked.append(share.id)
        audit.record(session, action="consultation.share.end", entity_type="consultation",
                     entity_id=str(consultation.id),
                     institution_id=consultation.target_institution_id, patient_id=person.id,
                     detail={"revoked": share.id, "status": consultation.status.value})
    return revoked
