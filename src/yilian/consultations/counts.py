"""Counts of consultations for analytics: by kind, by requesting and consulted
institution, by specialty asked for; how fast requests are answered; and of the reported
ones, how many ended in a referral up and how many stayed local."""

from __future__ import annotations

from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from yilian.audit import service as audit
from yilian.auth.permissions import Action, Principal, authorize
from yilian.consultations import service as consultations
from yilian.consultations.models import Consultation, ConsultationStatus
from yilian.consultations.schemas import ConsultationCounts, CountRow

REPORTED = (ConsultationStatus.REPORTED, ConsultationStatus.CLOSED)


def _grouped(session: Session, principal: Principal,
             column: InstrumentedAttribute[Any]) -> list[CountRow]:
    statement = select(column, func.count(Consultation.id)).group_by(column)
    condition = consultations.visible(principal)
    if condition is not None:
        statement = statement.where(condition)
    return [CountRow(key=str(getattr(key, "value", key) or ""), count=count)
            for key, count in session.execute(statement.order_by(column))]


def counts(session: Session, principal: Principal) -> ConsultationCounts:
    """The counts over the consultations the principal may see (all, network-wide)."""
    authorize(principal, Action.CONSULTATION_COUNTS)
    statement = select(Consultation.requested_at, Consultation.responded_at,
                       Consultation.status, Consultation.follow_up_referral_id)
    condition = consultations.visible(principal)
    if condition is not None:
        statement = statement.where(condition)
    rows = session.execute(statement).all()
    minutes = [(answered - asked).total_seconds() / 60 for asked, answered, _, _ in rows
               if answered is not None]
    reported = [row for row in rows if row[2] in REPORTED]
    referred = sum(1 for row in reported if row[3] is not None)
    audit.record(session, action="consultation.counts", entity_type="consultation",
                 institution_id=principal.institution_id, detail={"total": len(rows)})
    return ConsultationCounts(
        total=len(rows),
        by_kind=_grouped(session, principal, Consultation.kind),
        by_requesting_institution=_grouped(session, principal,
                                           Consultation.requesting_institution_id),
        by_target_institution=_grouped(session, principal, Consultation.target_institution_id),
        by_specialty=_grouped(session, principal, Consultation.target_specialty),
        answered=len(minutes),
        median_response_minutes=round(median(minutes), 1) if minutes else None,
        reported=len(reported), referred_up=referred, kept_local=len(reported) - referred,
    )
