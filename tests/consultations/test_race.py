"""No expert is booked twice: two coordinators scheduling two MDTs that share the experts
at the same moment, in real parallel requests; one wins, the other is told who is busy."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.consultations.conftest import API, Network, accepted, next_weekday_at
from tests.referrals.test_race import live_url, race
from yilian.consultations.models import Consultation, ConsultationStatus

__all__ = ["live_url"]  # the live server fixture, shared with the referral race


# PostgreSQL only, as the scheduling race (tests/scheduling/test_concurrency.py): SQLite
# serialises writers and a request with a stale read fails "database is locked" instead.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_mdts_sharing_experts_scheduled_at_once_book_them_once(
    client: TestClient, net: Network, session: Session, live_url: str,
) -> None:
    for round_number in range(3):
        first, second = accepted(client, net), accepted(client, net)
        starts = next_weekday_at(2, 9 + 2 * round_number).isoformat()
        codes = race(live_url,
                     (f"{API}/{first}/schedule", net.coordinator, {"starts_at": starts}),
                     (f"{API}/{second}/schedule", net.coordinator, {"starts_at": starts}))
        assert sorted(codes) == [200, 409]
        session.expire_all()
        booked = session.scalars(select(Consultation.id).where(
            Consultation.id.in_([first, second]),
            Consultation.status == ConsultationStatus.SCHEDULED)).all()
        assert len(booked) == 1
