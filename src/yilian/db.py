"""Database plumbing: declarative base, engine, sessions.

Yilian uses synchronous SQLAlchemy 2. FastAPI runs sync routes in its thread pool, the
workloads are short OLTP transactions, and one code path serves the web app, the CLI and
the tests alike; async would double the surface for no gain at this scale.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, exc
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from yilian.errors import InvalidInput

# Explicit constraint names so Alembic migrations are stable on both databases (STYLE.md §5).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Yilian stores aware UTC timestamps only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    """True when the URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _holds_nul(parameters: Any) -> bool:
    """Whether any text among the statement's parameters (one row or many) holds a NUL.

    A plain loop, not nested generators: bulk inserts pass hundreds of thousands of values.
    """
    if type(parameters) is str:
        return "\x00" in parameters
    if isinstance(parameters, Mapping):
        values: Any = parameters.values()
    elif isinstance(parameters, (list, tuple)):
        values = parameters
    else:
        return False
    for value in values:
        if type(value) is str:
            if "\x00" in value:
                return True
        elif isinstance(value, (Mapping, list, tuple)) and _holds_nul(value):
            return True
    return False


def _refuse_nul_characters(
    _connection: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any,
    executemany: bool,
) -> None:
    """PostgreSQL cannot hold a NUL character in text (the driver fails with a DataError);
    refuse such a value on every backend, whichever way it arrived (form, JSON, HL7, CSV,
    URL), instead of answering with a server error."""
    if _holds_nul(parameters):
        raise InvalidInput(
            "nul_character",
            "输入中含有空字符（NUL，编码 0），无法保存或查找：请检查文件或发送系统的编码",
            "The input holds a NUL character (code 0), which cannot be stored or "
            "searched: check the encoding of the file or of the sending system",
        )


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the URL, with SQLite made safe for a multi-threaded web server."""
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "before_cursor_execute", _refuse_nul_characters)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # A 64 MB page cache per connection (the default is 2 MB): the patient index's
            # lookups jump around tables of a million rows.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

    else:
        engine = create_engine(url, **kwargs)
        event.listen(engine, "before_cursor_execute", _refuse_nul_characters)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


# A pooled connection idle longer than this is pinged before use (a database restart or a
# firewall may have closed it); one in steady use is not, which saves every request a round
# trip. A connection that does break mid-use invalidates the pool, as SQLAlchemy does anyway.
PING_AFTER_IDLE_SECONDS = 10.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # the pool drops this one and checks out a fresh connection
        raise exc.DisconnectionError(str(error)) from error


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work for a CLI command or a background job: commit on success, else roll back."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def str_enum(enum_type: type[Any], length: int = 32) -> SAEnum:
    """A portable enum column stored as its string value (no native PostgreSQL enum type)."""
    return SAEnum(
        enum_type,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )
