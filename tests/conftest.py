"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

The schema is built once per backend by the real Alembic migrations. Each test then gets
an empty database: SQLite copies a migrated template file, PostgreSQL truncates every
table afterwards. Tests commit for real, so "nothing half-written" is checked honestly.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from filelock import FileLock
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from yilian import migrate
from yilian.app import create_app
from yilian.config import Settings, get_settings
from yilian.db import Base, make_engine, make_sessionmaker

# Administrators and clerks need a second factor (TOTP) to sign in; the tests of that set
# totp_required=True themselves (tests/auth/test_two_factor.py). Every other test signs in
# with a password alone, as the tests written before two-factor sign-in do.
os.environ.setdefault("YILIAN_TOTP_REQUIRED", "false")

# Property tests check outcomes, not speed: no per-example deadline, which a loaded CI
# machine (two cores, two workers, PostgreSQL and Chromium beside them) would miss at random.
hypothesis.settings.register_profile("yilian", deadline=None)
hypothesis.settings.load_profile("yilian")

PG_ADMIN_URL = os.environ.get(
    "YILIAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("YILIAN_TEST_REQUIRE_POSTGRES") == "1"

# A fixed field-encryption key, so no test writes ./yilian.fieldkey.
TEST_FIELD_KEY = "dGVzdC1maWVsZC1rZXktMzItYnl0ZXMtbG9uZyEhISE="


@pytest.fixture(autouse=True, scope="session")
def _hash_each_test_password_once() -> Iterator[None]:
    """Argon2 is slow on purpose; tests reuse a few passwords, so hash each one once.

    Verification stays the real argon2 check against the real hash.
    """
    from yilian.auth import security, service

    cached = functools.lru_cache(maxsize=64)(security.hash_password)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "hash_password", cached)
        yield


@dataclass
class Backend:
    """A migrated, empty database of one kind, ready to hand out per test."""

    name: str
    template_url: str
    template_path: Path | None = None


def _postgres_admin(statement: str) -> None:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


def _postgres_database(name: str) -> str:
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message + " (set YILIAN_TEST_REQUIRE_POSTGRES=1 to fail instead)")
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _unique_name(label: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"yilian_{label}_{worker}_{os.getpid()}"


@contextmanager
def private_database(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory, label: str
) -> Iterator[str]:
    """A migrated, empty database of the backend that only its holder uses, then removed.

    For fixtures that load something big once (the demo network) and share it across a
    module's read-only tests, out of reach of the per-test cleanup.
    """
    if backend.template_path is not None:
        path = tmp_path_factory.mktemp(label) / f"{label}.db"
        shutil.copyfile(backend.template_path, path)
        yield f"sqlite:///{path}"
        return
    name = _unique_name(label)
    url = _postgres_database(name)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The demo network's logins in every test database that holds it.
DEMO_PASSWORD = "Demo-e2e-2026"
# The demo's encounter history at a twentieth of the seeds' counts (66k rows instead of
# 1.3 M): the ratios and the outflow drop come out exactly the same (analytics.demo_plan).
DEMO_HISTORY_SCALE = 0.05
# A third of the demo's patient records (linked one by one through the index, the bulk of
# the demo's load time): every kind of duplicate still occurs, in proportion.
DEMO_PATIENT_RECORDS = 1000


@dataclass(frozen=True)
class DemoTemplate:
    """The demo network loaded once per backend and test run, to be copied per module.

    Loading the demo takes about a minute; copying a SQLite file or creating a PostgreSQL
    database from a template takes about one second, so each module still gets its own copy
    to change as it likes.
    """

    backend: Backend
    url: str
    report: Any  # yilian.demo.DemoReport (imported lazily: the demo pulls in every package)
    output: str  # what ``yilian demo load`` printed when it loaded the template
    template_path: Path | None = None
    database: str = ""


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every test process of this run sees: the run's base, above each worker's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _shared_demo_prefix(root: Path) -> str:
    """The prefix of this run's shared demo databases on PostgreSQL (dropped at the end)."""
    return f"yilian_demo_{hashlib.sha256(str(root).encode()).hexdigest()[:10]}_"


def _build_demo_template(backend: Backend, root: Path) -> DemoTemplate:
    """Load the demo into a new database of the backend (the caller holds the lock).

    The load goes through the command line, ``yilian demo load``, exactly as the README's
    first command runs it, so its first-load output is kept for the tests of the command.
    """
    if backend.template_path is not None:
        path: Path | None = root / "demo_template.db"
        assert path is not None
        shutil.copyfile(backend.template_path, path)
        url, database = f"sqlite:///{path}", ""
    else:
        path, database = None, _shared_demo_prefix(root) + "template"
        url = _postgres_database(database)
        migrate.upgrade(url)
    report, output = _load_demo_by_command(url)
    if path is not None:
        engine = make_engine(url)
        try:
            with engine.connect() as connection:  # fold the WAL back before copying
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
    return DemoTemplate(backend, url, report, output, path, database)


def _load_demo_by_command(url: str) -> tuple[Any, str]:
    """Run ``yilian demo load`` on the database; what it reported and what it printed."""
    from yilian import cli, demo

    reports: list[Any] = []
    real_load = demo.load

    def load_and_keep(*args: Any, **kwargs: Any) -> Any:
        reports.append(real_load(*args, **kwargs))
        return reports[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YILIAN_DATABASE_URL", url)
        patch.setenv("YILIAN_FIELD_KEY", TEST_FIELD_KEY)
        patch.setenv("YILIAN_SECRET_KEY", "demo-secret-key-for-tests-0123456789")
        patch.setenv("YILIAN_DEMO_HISTORY_SCALE", str(DEMO_HISTORY_SCALE))
        patch.setenv("YILIAN_DEMO_PATIENT_RECORDS", str(DEMO_PATIENT_RECORDS))
        patch.setattr(demo, "load", load_and_keep)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli.app, ["demo", "load", "--password", DEMO_PASSWORD])
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert len(reports) == 1, "yilian demo load did not load through yilian.demo.load"
    return reports[0], result.output


def _demo_template_files(root: Path, backend: str) -> tuple[FileLock, Path]:
    folder = root / f"demo-{backend}"
    folder.mkdir(exist_ok=True)
    return FileLock(folder / "lock"), folder / "template.pickle"


def _shared_demo_template(backend: Backend, root: Path) -> DemoTemplate:
    """The run's demo template of the backend: loaded by the first process that asks.

    xdist's workers share it through a file lock and a pickle in the run's base folder, so
    the demo is loaded once per backend and run instead of once per worker. ``backend`` is
    this process's own (its template database differs per worker); the loaded template keeps
    the loader's, which nobody uses after the load.
    """
    lock, saved = _demo_template_files(root, backend.name)
    with lock:
        if not saved.exists():
            template = _build_demo_template(backend, root)
            saved.write_bytes(pickle.dumps(template))
        loaded: DemoTemplate = pickle.loads(saved.read_bytes())  # noqa: S301 (this run wrote it)
    return loaded


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop this run's shared demo databases once, in the process that started the run."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: others may still be copying the template
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or not (factory.getbasetemp() / "demo-postgresql").exists():
        return
    prefix = _shared_demo_prefix(factory.getbasetemp())
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            names = connection.scalars(
                text("SELECT datname FROM pg_database WHERE datname LIKE :prefix"),
                {"prefix": prefix + "%"}).all()
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="module")
def demo_template(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> DemoTemplate:
    """The demo network of this backend, loaded once per test run (see demo_copy)."""
    return _shared_demo_template(backend, _shared_root(tmp_path_factory))


@contextmanager
def demo_copy(
    template: DemoTemplate, tmp_path_factory: pytest.TempPathFactory, label: str
) -> Iterator[str]:
    """A fresh copy of the demo database that only its holder uses, then removed."""
    if template.template_path is not None:
        path = tmp_path_factory.mktemp(label) / f"{label}.db"
        shutil.copyfile(template.template_path, path)
        yield f"sqlite:///{path}"
        return
    name = _unique_name(label)
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """A migrated template database per backend, built once per test session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "template.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        engine = make_engine(url)
        with engine.connect() as connection:  # fold the WAL back so a file copy is complete
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield Backend("sqlite", url, path)
        return
    # One database per test process, so parallel runs never disturb each other.
    name = _unique_name("test")
    url = _postgres_database(name)
    migrate.upgrade(url)
    yield Backend("postgresql", url)
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Emptying a PostgreSQL test database: DELETE, child tables first, then every sequence
# restarted. TRUNCATE of all tables costs about a second on PostgreSQL (a new file per
# table); the tables of one test hold a handful of rows, so DELETE takes some 20 ms. The
# audit trail refuses DELETE (an append-only trigger), so it alone is truncated.
APPEND_ONLY = ("audit_event",)
_RESTART_SEQUENCES = """
DO $$
DECLARE found record;
BEGIN
    FOR found IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()
    LOOP
        EXECUTE format('ALTER SEQUENCE %%I RESTART', found.sequencename);
    END LOOP;
END $$;
"""


def _truncate_postgres(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {', '.join(APPEND_ONLY)} RESTART IDENTITY")
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in APPEND_ONLY:
                connection.execute(table.delete())
        connection.exec_driver_sql(_RESTART_SEQUENCES)


@pytest.fixture
def db_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated database for one test."""
    if backend.template_path is not None:
        path = tmp_path / "yilian.db"
        shutil.copyfile(backend.template_path, path)
        yield f"sqlite:///{path}"
        return
    yield backend.template_url
    engine = make_engine(backend.template_url)
    try:
        _truncate_postgres(engine)
    finally:
        engine.dispose()


def demo_settings(url: str) -> Settings:
    """Settings for loading the demo into a test database (the tests' field key)."""
    return Settings(database_url=url, secret_key="demo-secret-key-for-tests-0123456789",
                    field_key=TEST_FIELD_KEY, demo_history_scale=DEMO_HISTORY_SCALE,
                    demo_patient_records=DEMO_PATIENT_RECORDS)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings of a test app on the test database."""
    return Settings(
        database_url=db_url,
        secret_key="test-secret-key-not-for-production-0123456789",
        secret_file=tmp_path / "unused.secret",
        field_key=TEST_FIELD_KEY,
        log_json=True,
        log_level="WARNING",
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test database, for factories and checks."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Session factory on the test database."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for setting up data and checking outcomes (commit it yourself)."""
    with sessions() as session:
        yield session


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The ``yilian`` command line, on the test database."""
    monkeypatch.setenv("YILIAN_DATABASE_URL", db_url)
    monkeypatch.setenv("YILIAN_FIELD_KEY", TEST_FIELD_KEY)
    monkeypatch.setenv("YILIAN_DEMO_HISTORY_SCALE", str(DEMO_HISTORY_SCALE))
    monkeypatch.setenv("YILIAN_DEMO_PATIENT_RECORDS", str(DEMO_PATIENT_RECORDS))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    """The Yilian application on the test database."""
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client for the application."""
    with TestClient(app) as test_client:
        yield test_client
