"""Concurrency proof: real parallel HTTP requests against a live server, on both databases
(PostgreSQL's row lock decides there; SQLite's single writer and the version check here).

Two clinicians accepting at the same moment, one accepting while the referrer cancels, two
bookings at once: exactly one wins each race, the other gets 409, and the timeline holds
one step per winner.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.referrals.conftest import World, chest_pain_referral
from yilian.referrals.models import ReferralEvent, TaskStatus

API = "/api/v1/referrals"
ROUNDS = 4


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The test app served by uvicorn on a loopback port."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def race(url: str, *requests: tuple[str, dict[str, str], dict[str, object]]) -> list[int]:
    """Send the requests at the same instant from one thread each; their status codes."""
    barrier = threading.Barrier(len(requests))
    codes: list[int] = [0] * len(requests)

    def send(index: int, path: str, headers: dict[str, str], body: dict[str, object]) -> None:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.connect()  # connected before the start line
        try:
            barrier.wait()
            connection.request("POST", path, body=json.dumps(body),
                               headers={**headers, "Content-Type": "application/json"})
            codes[index] = connection.getresponse().status
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, *request))
               for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def test_only_one_of_two_simultaneous_answers_wins(
    live_url: str, client: TestClient, world: World, session: Session
) -> None:
    for _ in range(ROUNDS):
        # Two receivers accept at once.
        rid = client.post(API, json=chest_pain_referral(world), headers=world.county).json()["id"]
        codes = race(live_url, (f"{API}/{rid}/accept", world.beijing, {}),
                     (f"{API}/{rid}/accept", world.beijing, {}))
        assert sorted(codes) == [200, 409]
        # Two bookings at once: one appointment, never two.
        codes = race(live_url,
                     (f"{API}/{rid}/book", world.beijing, {"ward": "CCU", "bed": "1"}),
                     (f"{API}/{rid}/book", world.beijing, {"ward": "CCU", "bed": "2"}))
        assert sorted(codes) == [200, 409]
        booked = client.get(f"{API}/{rid}", headers=world.county).json()
        assert booked["status"] == "ready" and booked["bed"] in {"1", "2"}

        # The receiver accepts while the referrer cancels.
        # Both decided on the version they saw (If-Match), as the pages send it.
        made = client.post(API, json=chest_pain_referral(world), headers=world.county).json()
        other, seen = made["id"], {"If-Match": f'W/"{made["version"]}"'}
        codes = race(live_url, (f"{API}/{other}/accept", world.beijing | seen, {}),
                     (f"{API}/{other}/cancel", world.county | seen, {"reason": "家属要求"}))
        assert sorted(codes) == [200, 409]
        final = client.get(f"{API}/{other}", headers=world.county).json()["status"]
        assert final == ("accepted" if codes[0] == 200 else "cancelled")

        for referral_id, steps in ((rid, 3), (other, 2)):  # created + one per winner
            count = session.scalar(select(func.count(ReferralEvent.id))
                                   .where(ReferralEvent.referral_id == referral_id))
            assert count == steps
    winners = session.scalar(select(func.count(ReferralEvent.id))
                             .where(ReferralEvent.to_status == TaskStatus.READY))
    assert winners == ROUNDS
