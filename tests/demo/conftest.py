"""One demo network per backend, loaded once for the read-mostly tests of this folder.

Loading the whole network takes a few seconds, so the tests that only look at it share
one database per backend: a copy of the migrated SQLite template, or a PostgreSQL database
of its own (the per-test truncation of the shared test database cannot reach it). Tests
that load for themselves (twice, or through the CLI) use the ordinary ``session``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.conftest import PG_ADMIN_URL, Backend
from yilian import demo, migrate
from yilian.db import make_engine, make_sessionmaker

PASSWORD = "Huailai#2022"


@dataclass(frozen=True)
class LoadedDemo:
    """A database holding the demo network, and what the load reported."""

    url: str
    report: demo.DemoReport


def _postgres_admin(statement: str) -> None:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def loaded_demo(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoadedDemo]:
    """The demo network, committed, in a database of its own."""
    name = f"yilian_demo_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    if backend.template_path is not None:
        path = tmp_path_factory.mktemp("demo") / "demo.db"
        shutil.copyfile(backend.template_path, path)
        url = f"sqlite:///{path}"
    else:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _postgres_admin(f'CREATE DATABASE "{name}"')
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            report = demo.load(session, password=PASSWORD)
            session.commit()
    finally:
        engine.dispose()
    yield LoadedDemo(url, report)
    if backend.template_path is None:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def demo_session(loaded_demo: LoadedDemo) -> Iterator[Session]:
    """A session on the loaded demo network."""
    engine = make_engine(loaded_demo.url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def report(loaded_demo: LoadedDemo) -> demo.DemoReport:
    """What loading the demo network reported."""
    return loaded_demo.report
