"""Migrations build exactly the schema the models describe, and reverse cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from yilian import migrate
from yilian.db import Base
from yilian.models import AuditEvent  # noqa: F401 - every table registered


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_back_up(db_url: str, engine: Engine) -> None:
    migrate.downgrade(db_url, "base")
    engine.dispose()
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(db_url)
    engine.dispose()
    assert {"institution", "audit_event", "app_user"} <= set(inspect(engine).get_table_names())


def test_the_database_refuses_to_change_audit_records(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "insert into audit_event (recorded_at, actor, actor_role, action, entity_type,"
                " entity_id, outcome, client_ip, user_agent, request_id, detail) values"
                " (:at, 'x', '', 'test', '', '', 'success', '', '', '', '')"
            ),
            {"at": "2026-01-01 00:00:00+00:00"},
        )
    for statement in ("update audit_event set actor = 'forged'", "delete from audit_event"):
        try:
            with engine.begin() as connection:
                connection.execute(text(statement))
        except DBAPIError as error:
            assert "append-only" in str(error)
        else:
            raise AssertionError(f"{statement!r} was allowed")
    with engine.connect() as connection:
        assert connection.execute(text("select actor from audit_event")).scalars().all() == ["x"]
