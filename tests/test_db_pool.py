"""The connection pool: a connection the database dropped while idle is never handed out."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from yilian import db
from yilian.db import make_engine


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as connection:
        dropped = connection.connection.dbapi_connection
    # The database side goes away while the connection sits in the pool (a restart, a
    # firewall's idle timeout); the next request must still get a working connection.
    if engine.dialect.name == "postgresql":
        other = make_engine(db_url)
        with other.connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"),
                           {"pid": dropped.info.backend_pid})
        other.dispose()
    else:
        dropped.close()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 41 + 1")).scalar() == 42
        assert connection.connection.dbapi_connection is not dropped
