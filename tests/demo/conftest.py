"""One demo network per backend, loaded once for the read-mostly tests of this folder.

Loading the whole network takes a few seconds, so the tests that only look at it share
one database per backend: a copy of the migrated SQLite template, or a PostgreSQL database
of its own (the per-test truncation of the shared test database cannot reach it). Tests
that load for themselves (twice, or through the CLI) use the ordinary ``session``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from tests.conftest import DEMO_PASSWORD, DemoTemplate, demo_copy
from yilian import demo
from yilian.db import make_engine, make_sessionmaker

PASSWORD = DEMO_PASSWORD


@dataclass(frozen=True)
class LoadedDemo:
    """A database holding the demo network, and what the load reported."""

    url: str
    report: demo.DemoReport
    output: str  # what ``yilian demo load`` printed when it first loaded the network


@pytest.fixture(scope="module")
def loaded_demo(
    demo_template: DemoTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoadedDemo]:
    """The demo network, committed, in a copy of its own."""
    with demo_copy(demo_template, tmp_path_factory, "demo") as url:
        yield LoadedDemo(url, demo_template.report, demo_template.output)


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
