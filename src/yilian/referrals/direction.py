"""Which way a referral goes: the two institutions as the direction rule sees them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.referrals import rules
from yilian.referrals.models import Direction
from yilian.registry import agreements
from yilian.registry.models import CONSORTIUM_TYPES, AgreementType, Institution

DIRECTING_AGREEMENTS = CONSORTIUM_TYPES | {AgreementType.TRUSTEESHIP}


def places_of(session: Session, *institutions: Institution) -> list[rules.Place]:
    """Institutions as direction sees them: level, parent and whom each leads (one query)."""
    leads = agreements.led_members_by_lead(
        session, institution_ids=[institution.id for institution in institutions],
        on=utcnow().date(), types=DIRECTING_AGREEMENTS)
    return [rules.Place(institution.id, institution.level, institution.parent_id,
                        leads[institution.id]) for institution in institutions]


def place_of(session: Session, *, institution: Institution) -> rules.Place:
    """An institution as direction sees it: level, parent and whom it leads."""
    return places_of(session, institution)[0]


def direction_between(
    session: Session, *, origin: Institution, target: Institution
) -> Direction:
    """The derived direction of a referral from ``origin`` to ``target``."""
    return rules.derive_direction(*places_of(session, origin, target))
