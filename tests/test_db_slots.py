"""A crowd larger than the connection pool is served in turn, never failed with a 500."""

from __future__ import annotations

import threading
from collections import Counter

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer, make_institution, make_regions, make_user
from tests.live import call, serve
from yilian.app import create_app
from yilian.auth.models import Role
from yilian.config import Settings

CROWD = 200  # far more requests at once than the server has threads (40) or sessions (2)


def test_a_crowd_beyond_the_pool_waits_its_turn_and_every_request_is_answered(
    session: Session, settings: Settings
) -> None:
    make_regions(session)
    hospital = make_institution(session)
    clinician = make_user(session, role=Role.CLINICIAN, institution=hospital)
    session.commit()
    # Two sessions at once: a request that held a pooled connection while waiting for a
    # thread, with every thread blocked on the pool, used to deadlock until the pool's
    # timeout and answer 500.
    app = create_app(settings.model_copy(update={"db_sessions_max": 2}))
    pool = app.state.engine.pool
    with TestClient(app) as client:
        headers = bearer(client, clinician.username)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(CROWD)

    def ask() -> None:
        start.wait()
        status, _ = call(base, "GET", "/api/v1/auth/me", headers=headers, timeout=120)
        with lock:
            statuses[status] += 1

    try:
        with serve(app) as base:
            crowd = [threading.Thread(target=ask) for _ in range(CROWD)]
            for thread in crowd:
                thread.start()
            for thread in crowd:
                thread.join()
    finally:
        app.state.engine.dispose()
    assert statuses == Counter({200: CROWD})
    assert pool.size() == 2  # the pool stayed as configured: the crowd queued, not the pool
