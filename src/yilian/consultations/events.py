"""The timeline: every step of a consultation is appended by :func:`record_event`, which
also tells whoever should hear of it through the inbox (``yilian.notify``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from yilian.audit import service as audit
from yilian.auth import service as users
from yilian.auth.permissions import Principal
from yilian.consultations.models import Consultation, ConsultationEvent
from yilian.notify import service as notify


def record_event(
    session: Session, *, consultation: Consultation, principal: Principal | None, action: str,
    from_status: str = "", to_status: str = "", reason: str = "", note: str = "",
) -> ConsultationEvent:
    """Append one step (who, when, what, why) to the consultation's timeline."""
    event = ConsultationEvent(
        consultation_id=consultation.id, action=action, from_status=from_status,
        to_status=to_status,
        actor=principal.username if principal is not None else audit.context_of(session).actor,
        actor_user_id=principal.user_id if principal is not None else None,
        actor_institution_id=principal.institution_id if principal is not None else None,
        reason=reason, note=note,
    )
    consultation.events.append(event)  # saved with it (cascade)
    return event


def announce(
    session: Session, *, consultation: Consultation, what: str, title_zh: str, title_en: str,
    institution_ids: Iterable[int] = (), user_ids: Iterable[int | None] = (),
    practitioner_ids: Iterable[int] = (),
) -> None:
    """Tell people of a step through the inbox: the named users (and the accounts of named
    practitioners), or else the staff of the institutions. The title carries the
    consultation's number, never a patient's name: webhooks leave the hospital."""
    named = {u for u in user_ids if u is not None} | set(
        users.active_users_of_practitioners(session, practitioner_ids=set(practitioner_ids)))
    notify.publish(
        session, kind=f"consultation.{what}", institution_ids=sorted(set(institution_ids)),
        user_ids=sorted(named),
        title_zh=f"会诊 #{consultation.id}：{title_zh}",
        title_en=f"Consultation #{consultation.id}: {title_en}",
        link=f"/consultations/{consultation.id}",
        payload={"consultation_id": consultation.id, "status": consultation.status.value,
                 "kind": consultation.kind.value},
        subject_ref=f"Consultation/{consultation.id}",
    )


def tell_requester(session: Session, *, consultation: Consultation, what: str, title_zh: str,
                   title_en: str) -> None:
    """The requesting clinician hears of a step (their institution's staff if unnamed)."""
    announce(session, consultation=consultation, what=what, title_zh=title_zh,
             title_en=title_en, institution_ids=[consultation.requesting_institution_id],
             user_ids=[consultation.requesting_user_id])


def tell_experts(session: Session, *, consultation: Consultation, what: str, title_zh: str,
                 title_en: str) -> None:
    """The assigned experts hear of a step."""
    ids = [e.practitioner_id for e in consultation.experts]
    if ids:
        announce(session, consultation=consultation, what=what, title_zh=title_zh,
                 title_en=title_en, institution_ids=[consultation.target_institution_id],
                 practitioner_ids=ids)
