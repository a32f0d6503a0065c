"""Backup and restore: ``yilian db backup | restore | verify``.

An archive is one tar file holding

- ``manifest.json``: the format, the backend, the Alembic revision, when it was made, the
  payload's SHA-256 and, per table, its row count and a SHA-256 over its rows in primary-key
  order (each row as canonical JSON), and how many encrypted values each field key holds;
- the payload: a SQLite database file (``database.sqlite``), made with SQLite's online
  backup API, or a ``pg_dump`` custom-format dump (``database.pgdump``).

Both are consistent while the server keeps running: the SQLite backup API copies every page
under one read lock; on PostgreSQL the checksums are computed in a REPEATABLE READ
transaction whose snapshot ``pg_dump --snapshot`` shares, so they describe exactly the
dumped rows.

Restore never leaves a half-restored database. It writes the archive into a fresh database
first (PostgreSQL: a new database, filled by ``pg_restore --single-transaction``; SQLite: a
new file beside the target), checks every table against the manifest there, migrates it
when ``--upgrade`` asks, and only then swaps it in: PostgreSQL renames the databases (the
old one is kept under a ``_pre_restore_`` name when it held data); SQLite copies the checked
file into the target with the backup API, which writes the target in one transaction (a
crash leaves the old content). A non-empty target is refused unless ``force``.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time as time_module
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from yilian import migrate
from yilian.audit import service as audit
from yilian.audit.models import AuditOutcome
from yilian.db import is_sqlite, make_engine, make_sessionmaker, transaction, utcnow
from yilian.errors import InvalidInput

FORMAT = "yilian-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_PAYLOAD = "database.sqlite"
PG_PAYLOAD = "database.pgdump"
_CHUNK = 1 << 20


class BackupError(InvalidInput):
    """A backup or restore that cannot go ahead; the message says what to do."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(code, zh, en)


# --- table checksums --------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """A value as JSON can hold it, the same for equal values of one backend."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _user_tables(connection: Connection) -> list[str]:
    names = inspect(connection).get_table_names()
    return sorted(name for name in names if not name.startswith("sqlite_"))


def table_checksums(connection: Connection) -> dict[str, dict[str, Any]]:
    """Per table: its row count and a SHA-256 over its rows in primary-key order."""
    quote = connection.dialect.identifier_preparer.quote
    inspector = inspect(connection)
    names = _user_tables(connection)
    keys = {name: entry.get("constrained_columns") or []
            for (_, name), entry in inspector.get_multi_pk_constraint().items()}
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        primary = keys.get(name) or [column["name"] for column in inspector.get_columns(name)]
        order = ", ".join(quote(column) for column in primary)
        digest, rows = hashlib.sha256(), 0
        cursor = connection.exec_driver_sql(f"SELECT * FROM {quote(name)} ORDER BY {order}")  # noqa: S608 - quoted names
        for row in cursor:
            digest.update(json.dumps([_canonical(v) for v in row], ensure_ascii=False,
                                     separators=(",", ":")).encode("utf-8"))
            digest.update(b"\n")
            rows += 1
        result[name] = {"rows": rows, "sha256": digest.hexdigest()}
    return result


def _revision(connection: Connection) -> str:
    if "alembic_version" not in _user_tables(connection):
        return ""
    return str(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() or "")


def _holds_data(checksums: dict[str, dict[str, Any]]) -> bool:
    return any(entry["rows"] for name, entry in checksums.items() if name != "alembic_version")


def _key_ids(connection: Connection) -> dict[str, int]:
    from yilian import keys

    present = set(_user_tables(connection))
    if not {c.table for c in (*keys.ENCRYPTED_COLUMNS, *keys.COPIED_INDEXES)} <= present:
        return {}
    with make_sessionmaker(connection.engine)(bind=connection) as session:
        # Without the keyring, the unprefixed indexes (of its first key) go unnamed.
        return keys.values_by_key(session, legacy_key_id=None)


# --- PostgreSQL tools ---------------------------------------------------------------------


def pg_tool(name: str) -> str:
    """The path of pg_dump or pg_restore: on PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda path: int(Path(path).parts[-3]) if
                        Path(path).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise BackupError(
        "pg_tool_missing", f"找不到 {name}：请安装 PostgreSQL 客户端（postgresql-client）",
        f"{name} not found on PATH or in /usr/lib/postgresql/*/bin: install the PostgreSQL "
        "client tools (postgresql-client)",
    )


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string (no password) and the environment holding the password."""
    parts: dict[str, str] = {}
    if url.host:
        parts["host"] = url.host
    if url.port:
        parts["port"] = str(url.port)
    if url.username:
        parts["user"] = url.username
    parts["dbname"] = url.database or ""
    for key, value in url.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]

    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return " ".join(f"{key}={quoted(value)}" for key, value in parts.items()), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit code {completed.returncode}"
        raise BackupError(f"{what}_failed", f"{what} 失败：{reason}", f"{what} failed: {reason}")


# --- the archive ------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    """A checked archive: its manifest and where its payload was unpacked."""

    manifest: dict[str, Any]
    payload: Path


def _damaged(path: Path, reason: str) -> BackupError:
    return BackupError("backup_damaged", f"备份文件 {path} 已损坏或不是 Yilian 备份：{reason}",
                       f"{path} is damaged or not a Yilian backup: {reason}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_archive(target: Path, manifest: dict[str, Any], payload: Path, name: str) -> None:
    """Write the tar next to the target and move it into place whole."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        with tarfile.open(partial, "w") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(utcnow().timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(payload, arcname=name)
        partial.chmod(0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[Archive]:
    """Unpack and check an archive: the manifest is ours and the payload's SHA-256 matches."""
    if not path.is_file():
        raise BackupError("backup_missing", f"找不到备份文件 {path}", f"No backup file {path}")
    with tempfile.TemporaryDirectory(prefix="yilian-restore-") as folder:
        try:
            with tarfile.open(path, "r:") as tar:
                manifest_member = tar.getmember(MANIFEST)
                extracted = tar.extractfile(manifest_member)
                if extracted is None:
                    raise _damaged(path, "no manifest")
                manifest = json.loads(extracted.read().decode("utf-8"))
                if manifest.get("format") != FORMAT:
                    raise _damaged(path, "not a Yilian backup")
                if manifest.get("version") != FORMAT_VERSION:
                    raise _damaged(path, f"archive format {manifest.get('version')} unknown")
                name = manifest["payload"]["name"]
                if name not in (SQLITE_PAYLOAD, PG_PAYLOAD):
                    raise _damaged(path, "unknown payload")
                source = tar.extractfile(tar.getmember(name))
                if source is None:
                    raise _damaged(path, "no payload")
                payload = Path(folder) / name
                with payload.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
        except (tarfile.TarError, KeyError, ValueError, OSError, UnicodeDecodeError) as error:
            raise _damaged(path, error.__class__.__name__) from None
        if _sha256(payload) != manifest["payload"]["sha256"]:
            raise _damaged(path, "the payload's checksum does not match the manifest")
        yield Archive(manifest, payload)


# --- backup -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupReport:
    """What a backup wrote."""

    path: Path
    revision: str
    tables: int
    rows: int
    sha256: str

    def summary(self) -> str:
        return (f"backup written to {self.path}: {self.tables} tables, {self.rows} rows, "
                f"revision {self.revision}, sha256 {self.sha256[:16]}")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("sqlite_memory", "内存数据库无法备份或恢复",
                          "An in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy one SQLite database into another with the online backup API (one transaction)."""
    source_connection = sqlite3.connect(source, timeout=30)
    target_connection = sqlite3.connect(target, timeout=30)
    try:
        source_connection.backup(target_connection)
    finally:
        target_connection.close()
        source_connection.close()


def _manifest(backend: str, connection: Connection, payload: Path, name: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "backend": backend,
        "created_at": utcnow().isoformat(),
        "created_by": getpass.getuser(),
        "revision": _revision(connection),
        "payload": {"name": name, "sha256": _sha256(payload), "bytes": payload.stat().st_size},
        "tables": table_checksums(connection),
        "field_key_ids": _key_ids(connection),
    }


def backup(database_url: str, target: Path) -> BackupReport:
    """Write a consistent backup of the database to ``target``, and audit it there."""
    target = target.resolve()
    if not target.parent.is_dir():
        raise BackupError("backup_folder_missing", f"文件夹 {target.parent} 不存在",
                          f"The folder {target.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix="yilian-backup-", dir=target.parent) as folder:
        if is_sqlite(database_url):
            source = _sqlite_path(database_url)
            if not source.is_file():
                raise BackupError("database_missing", f"数据库文件 {source} 不存在",
                                  f"The database file {source} does not exist")
            payload = Path(folder) / SQLITE_PAYLOAD
            _sqlite_copy(source, payload)
            with contextlib.closing(sqlite3.connect(payload)) as single:
                single.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            engine = make_engine(f"sqlite:///{payload}")
            try:
                with engine.connect() as connection:
                    manifest = _manifest("sqlite", connection, payload, SQLITE_PAYLOAD)
            finally:
                engine.dispose()
        else:
            payload = Path(folder) / PG_PAYLOAD
            manifest = _pg_dump(database_url, payload)
        _write_archive(target, manifest, payload, manifest["payload"]["name"])
    report = BackupReport(
        target, manifest["revision"], len(manifest["tables"]),
        sum(entry["rows"] for entry in manifest["tables"].values()), _sha256(target),
    )
    _audit(database_url, "db.backup", {
        "file": str(target), "sha256": report.sha256, "revision": report.revision,
        "tables": report.tables, "rows": report.rows,
    })
    return report


def _pg_dump(database_url: str, payload: Path) -> dict[str, Any]:
    tool = pg_tool("pg_dump")
    conninfo, env = _libpq(make_url(database_url))
    engine = make_engine(database_url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            snapshot = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar())
            _run([tool, "--format=custom", f"--snapshot={snapshot}", f"--file={payload}",
                  f"--dbname={conninfo}"], env, "pg_dump")
            manifest = _manifest("postgresql", connection, payload, PG_PAYLOAD)
            connection.rollback()
    finally:
        engine.dispose()
    return manifest


def _audit(database_url: str, action: str, detail: dict[str, Any],
           outcome: AuditOutcome = AuditOutcome.SUCCESS) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            audit.record(session, action=action, entity_type="database", detail=detail,
                         outcome=outcome)
    finally:
        engine.dispose()


def _audit_refused_restore(database_url: str, path: Path, error: BackupError) -> None:
    """Record a refused restore in the database it was aimed at, when that one exists and
    keeps a trail (a missing one is not created for it, an empty one has no trail yet)."""
    if is_sqlite(database_url) and not Path(make_url(database_url).database or "").is_file():
        return
    try:
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                keeps_trail = inspect(connection).has_table("audit_event")
        finally:
            engine.dispose()
        if keeps_trail:
            _audit(database_url, "db.restore", {"file": str(path), "refused": error.code},
                   outcome=AuditOutcome.FAILED)
    except SQLAlchemyError:  # not there, or not reachable: the refusal itself still stands
        return


# --- verify -------------------------------------------------------------------------------


def _mismatches(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    names = sorted(set(expected) | set(found))
    return [name for name in names if expected.get(name) != found.get(name)]


def _refuse_mismatch(path: Path, wrong: list[str]) -> BackupError:
    shown = ", ".join(wrong[:5]) + (" …" if len(wrong) > 5 else "")
    return BackupError("backup_mismatch", f"恢复的数据与备份清单不符：{shown}",
                       f"The data restored from {path} does not match its manifest: {shown}")


def verify(path: Path) -> dict[str, Any]:
    """Check an archive whole: its payload's checksum and (SQLite) every table's checksum.

    A PostgreSQL dump is checked by reading its table of contents with ``pg_restore
    --list``; its tables are checked against the manifest by every restore.
    """
    with open_archive(path) as archive:
        if archive.manifest["backend"] == "sqlite":
            _check_restored(f"sqlite:///{archive.payload}", archive, path)
        else:
            _run([pg_tool("pg_restore"), "--list", str(archive.payload)], dict(os.environ),
                 "pg_restore")
        return archive.manifest


# --- restore ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did."""

    revision: str
    tables: int
    rows: int
    upgraded_to: str
    previous: str  # where the replaced data was kept ("" when the target held none)
    field_key_ids: tuple[str, ...] = ()  # the field keys the restored values are under

    def summary(self) -> str:
        line = f"restored {self.tables} tables, {self.rows} rows at revision {self.revision}"
        if self.upgraded_to:
            line += f", upgraded to {self.upgraded_to}"
        if self.previous:
            line += f"; the previous data is kept in {self.previous}"
        return line


def _code_heads(database_url: str) -> tuple[ScriptDirectory, set[str]]:
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    return script, set(script.get_heads())


def _check_revision(database_url: str, revision: str, *, upgrade: bool) -> bool:
    """True when the restored database must be migrated (``upgrade`` allowed it)."""
    script, heads = _code_heads(database_url)
    if revision in heads:
        return False
    try:
        known = bool(revision) and script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for unknown ids
        known = False
    head = ", ".join(sorted(heads))
    if not known:
        raise BackupError(
            "backup_newer",
            f"备份的数据库版本 {revision or '(无)'} 不为本程序所知（本程序为 {head}）："
            "请用生成该备份的 Yilian 版本恢复",
            f"The backup is at revision {revision or '(none)'}, unknown to this Yilian (head "
            f"{head}): restore it with the Yilian version that made it",
        )
    if not upgrade:
        raise BackupError(
            "backup_older",
            f"备份的数据库版本 {revision} 早于本程序的 {head}：加 --upgrade 在恢复后迁移",
            f"The backup is at revision {revision}, older than this code's {head}: "
            "add --upgrade to migrate it after restoring",
        )
    return True


def _target_holds_data(engine: Engine) -> bool:
    with engine.connect() as connection:
        quote = connection.dialect.identifier_preparer.quote
        for name in _user_tables(connection):
            if name == "alembic_version":
                continue
            if connection.exec_driver_sql(f"SELECT 1 FROM {quote(name)} LIMIT 1").first():  # noqa: S608
                return True
    return False


def _refuse_non_empty(database_url: str) -> BackupError:
    where = make_url(database_url).render_as_string(hide_password=True)
    return BackupError(
        "restore_target_not_empty",
        f"目标数据库 {where} 已有数据：确认要替换时加 --force",
        f"The database {where} already holds data: add --force to replace it",
    )


def restore(
    database_url: str, path: Path, *, force: bool = False, upgrade: bool = False
) -> RestoreReport:
    """Restore the archive into the database, all or nothing; audited in the restored one
    (a refusal in the database it was aimed at, when that one keeps a trail)."""
    path = path.resolve()
    try:
        return _restore(database_url, path, force=force, upgrade=upgrade)
    except BackupError as error:
        _audit_refused_restore(database_url, path, error)
        raise


def _restore(database_url: str, path: Path, *, force: bool, upgrade: bool) -> RestoreReport:
    with open_archive(path) as archive:
        manifest = archive.manifest
        backend = "sqlite" if is_sqlite(database_url) else "postgresql"
        if manifest["backend"] != backend:
            raise BackupError(
                "backup_backend",
                f"该备份来自 {manifest['backend']}，不能恢复到 {backend}",
                f"This backup is of a {manifest['backend']} database and cannot be restored "
                f"into {backend}",
            )
        migrate_after = _check_revision(database_url, manifest["revision"], upgrade=upgrade)
        if backend == "sqlite":
            previous = _restore_sqlite(database_url, archive, path, force=force,
                                       migrate_after=migrate_after)
        else:
            previous = _restore_postgres(database_url, archive, path, force=force,
                                         migrate_after=migrate_after)
    report = RestoreReport(
        revision=manifest["revision"], tables=len(manifest["tables"]),
        rows=sum(entry["rows"] for entry in manifest["tables"].values()),
        upgraded_to=", ".join(sorted(_code_heads(database_url)[1])) if migrate_after else "",
        previous=previous,
        field_key_ids=tuple(manifest.get("field_key_ids", {})),
    )
    _audit(database_url, "db.restore", {
        "file": str(path), "sha256": _sha256(path), "backup_created_at": manifest["created_at"],
        "revision": report.revision, "upgraded_to": report.upgraded_to,
        "rows": report.rows, "previous": previous,
    })
    return report


def _check_restored(database_url: str, archive: Archive, path: Path) -> None:
    """Refuse the archive unless every table of the database matches its manifest."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            wrong = _mismatches(archive.manifest["tables"], table_checksums(connection))
    finally:
        engine.dispose()
    if wrong:
        raise _refuse_mismatch(path, wrong)


def _stamp() -> str:
    return utcnow().strftime("%Y%m%d%H%M%S")


def _restore_sqlite(
    database_url: str, archive: Archive, path: Path, *, force: bool, migrate_after: bool
) -> str:
    target = _sqlite_path(database_url).resolve()
    if target.exists():
        engine = make_engine(database_url)
        try:
            holds_data = _target_holds_data(engine)
        finally:
            engine.dispose()
        if holds_data and not force:
            raise _refuse_non_empty(database_url)
    else:
        holds_data = False
    fresh = target.with_name(f".{target.name}.restoring-{_stamp()}")
    try:
        shutil.copyfile(archive.payload, fresh)
        _check_restored(f"sqlite:///{fresh}", archive, path)
        if migrate_after:
            migrate.upgrade(f"sqlite:///{fresh}")
        previous = ""
        if holds_data:
            kept = target.with_name(f"{target.name}.pre-restore-{_stamp()}")
            _sqlite_copy(target, kept)
            previous = str(kept)
        _sqlite_copy(fresh, target)  # the swap: one write transaction on the target
    finally:
        for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm"),
                         Path(f"{fresh}-journal")):
            leftover.unlink(missing_ok=True)
    return previous


def _maintenance_url(database_url: str) -> str:
    return make_url(database_url).set(database="postgres").render_as_string(hide_password=False)


def _database_exists(admin: Connection, name: str) -> bool:
    found = admin.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                          {"name": name}).first()
    return found is not None


def _restore_postgres(
    database_url: str, archive: Archive, path: Path, *, force: bool, migrate_after: bool
) -> str:
    url = make_url(database_url)
    name = url.database or ""
    if not name:
        raise BackupError("database_unnamed", "数据库地址未指定数据库名",
                          "The database URL names no database")
    tool = pg_tool("pg_restore")
    admin_engine = make_engine(_maintenance_url(database_url), isolation_level="AUTOCOMMIT")
    stamp = _stamp()
    fresh = f"{name[:40]}_restoring_{stamp}"
    kept = f"{name[:40]}_pre_restore_{stamp}"
    quote = admin_engine.dialect.identifier_preparer.quote
    try:
        with admin_engine.connect() as admin:
            exists = _database_exists(admin, name)
        holds_data = False
        if exists:
            engine = make_engine(database_url)
            try:
                holds_data = _target_holds_data(engine)
            finally:
                engine.dispose()
            if holds_data and not force:
                raise _refuse_non_empty(database_url)
        with admin_engine.connect() as admin:
            admin.exec_driver_sql(f"CREATE DATABASE {quote(fresh)} TEMPLATE template0")
        fresh_url = url.set(database=fresh).render_as_string(hide_password=False)
        swapped = False
        try:
            conninfo, env = _libpq(url.set(database=fresh))
            _run([tool, "--single-transaction", "--exit-on-error", "--no-owner",
                  "--no-privileges", f"--dbname={conninfo}", str(archive.payload)],
                 env, "pg_restore")
            _check_restored(fresh_url, archive, path)
            if migrate_after:
                migrate.upgrade(fresh_url)
            with admin_engine.connect() as admin:
                _swap(admin, quote, name=name, fresh=fresh, kept=kept, exists=exists)
            swapped = True
        finally:
            if not swapped:
                with admin_engine.connect() as admin:
                    admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(fresh)} WITH (FORCE)")
        if exists and not holds_data:
            with admin_engine.connect() as admin:
                admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote(kept)} WITH (FORCE)")
            return ""
        return kept if exists else ""
    finally:
        admin_engine.dispose()


def _swap(admin: Connection, quote: Any, *, name: str, fresh: str, kept: str,
          exists: bool) -> None:
    """Put the restored database under the target's name; the old one under ``kept``."""
    if exists:
        # No new sessions, end the open ones (the server's pool reconnects to the new one).
        admin.exec_driver_sql(f"ALTER DATABASE {quote(name)} ALLOW_CONNECTIONS false")
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        for attempt in range(50):  # the ended sessions take a moment to go
            try:
                admin.exec_driver_sql(f"ALTER DATABASE {quote(name)} RENAME TO {quote(kept)}")
                break
            except OperationalError:
                if attempt == 49:
                    admin.exec_driver_sql(
                        f"ALTER DATABASE {quote(name)} ALLOW_CONNECTIONS true")
                    raise
                time_module.sleep(0.1)
        admin.exec_driver_sql(f"ALTER DATABASE {quote(kept)} ALLOW_CONNECTIONS true")
    try:
        admin.exec_driver_sql(f"ALTER DATABASE {quote(fresh)} RENAME TO {quote(name)}")
    except Exception:
        if exists:
            admin.exec_driver_sql(f"ALTER DATABASE {quote(kept)} RENAME TO {quote(name)}")
        raise
