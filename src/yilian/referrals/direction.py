"""Which way a referral goes: the two institutions as the direction rule sees them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from yilian.db import utcnow
from yilian.referrals import rules
from yilian.referrals.models import Direction
from yilian.registry import agreements
from yilian.registry.models import CONSORTIUM_TYPES, AgreementType, Institution

DIRECTING_AGREEMENTS = CONSORTIUM_TYPES | {AgreementType.TRUSTEESHIP}


def place_of(session: Session, *, institution: Institution) -> rules.Place:
    """An institution as direction sees it: level, parent and whom it leads."""
    leads = agreements.led_members(session, institution_id=institution.id,
                                   on=utcnow().date(), types=DIRECTING_AGREEMENTS)
    return rules.Place(institution.id, institution.level, institution.parent_id,
                       frozenset(leads))


def direction_between(
    session: Session, *, origin: Institution, target: Institution
) -> Direction:
    """The derived direction of a referral from ``origin`` to ``target``."""
    leads = agreements.led_members_by_lead(session, institution_ids=[origin.id, target.id],
                                           on=utcnow().date(), types=DIRECTING_AGREEMENTS)
    return rules.derive_direction(
        *(rules.Place(place.id, place.level, place.parent_id, leads[place.id])
          for place in (origin, target)))
