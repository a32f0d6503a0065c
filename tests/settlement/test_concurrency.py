"""Parallel settlements of one person against a live server never overrun the annual cap,
and twin requests with one idempotency key settle once (real threads, real connections)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.live import serve
from tests.settlement.setup import build, post_json, settle_body
from yilian.app import create_app
from yilian.config import Settings
from yilian.settlement import service as settlements
from yilian.settlement.models import Settlement

SETTLE = "/api/v1/settlement/settlements"
# General anaesthesia 30 × 1200.00 甲类 = 36,000 in scope: 28,400 at the first admission
# ((36,000 − 500) × 80 %), 28,600 at later ones (deductible 250). Eight of them would be
# 227,200; the Zhangjiakou cap is 150,000.
BIG_BILL = [{"code": "330100001", "qty": 30, "unit_price": "1200.00"}]


@pytest.fixture
def live(settings: Settings) -> Iterator[str]:
    """A real server on the test database, on a free loopback port."""
    app = create_app(settings)
    try:
        with serve(app) as base:
            yield base
    finally:
        app.state.engine.dispose()


def _in_parallel(base: str, headers: dict[str, str], bodies: list[Any]) -> list[tuple[int, Any]]:
    barrier = threading.Barrier(len(bodies))

    def send(body: Any) -> tuple[int, Any]:
        barrier.wait()
        return post_json(base, SETTLE, body, headers)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_parallel_settlements_never_overrun_the_annual_cap(
    live: str, client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    headers = bearer(client, net.clerk)
    bodies = [settle_body(net, f"CAP-2026-{n:04d}", lines=BIG_BILL) for n in range(8)]
    answers = _in_parallel(live, headers, bodies)
    assert [status for status, _ in answers] == [201] * 8, answers
    paid = sorted((Decimal(body["slip"]["hifp_pay"]) for _, body in answers), reverse=True)
    # 28,400 + 4 × 28,600 = 142,800; the sixth gets the 7,200 left; the last two nothing.
    assert sum(paid) == Decimal("150000.00")
    assert paid[:6].count(Decimal("28600.00")) == 4 and paid[-2:] == [Decimal("0.00")] * 2
    ytd = settlements.year_to_date(session, person_id=net.person_id, year=2026)
    assert (ytd.hifp_pay, ytd.admissions) == (Decimal("150000.00"), 8)


def test_twin_requests_with_one_key_settle_once(
    live: str, client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    headers = bearer(client, net.clerk)
    answers = _in_parallel(live, headers, [settle_body(net, "TWIN-2026-0001")] * 6)
    assert sorted(status for status, _ in answers) == [200] * 5 + [201]
    assert len({body["id"] for _, body in answers}) == 1
    count = session.scalar(select(func.count(Settlement.id)))
    ytd = settlements.year_to_date(session, person_id=net.person_id, year=2026)
    assert (count, ytd.hifp_pay, ytd.admissions) == (1, Decimal("310.40"), 1)
