"""``yilian db backup | restore | verify``: a round trip keeps every row of every table."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import yilian.models  # noqa: F401 - every table on Base.metadata
from tests.conftest import PG_ADMIN_URL, Backend, _postgres_admin, private_database
from tests.factories import (
    make_agreement,
    make_department,
    make_institution,
    make_user,
    register,
    resident_id_number,
)
from yilian import backup, migrate
from yilian.audit import service as audit
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.cli import app
from yilian.config import Settings, get_settings
from yilian.crypto import cipher_from_settings
from yilian.db import Base, make_engine
from yilian.notify.models import WebhookSubscription
from yilian.notify.subscriptions import SECRET_FIELD


def seed(session: Session, settings: Settings) -> None:
    """A few rows in many tables: registry, users, patients, a webhook, the audit trail."""
    audit.bind(session, audit.AuditContext(actor="seed"))
    county = make_institution(session, code="HUAILAI")
    city = make_institution(session, code="ZJK", level=3)
    make_department(session, city)
    make_agreement(session, city, county)
    user = make_user(session, role=Role.CLINICIAN, institution=county, username="doctor")
    for number, name in enumerate(["张伟", "李娜", "王芳"]):
        register(session, settings, county, f"HL-{number}", name=name, sex="female",
                 birth_date=date(1980, 1, 2 + number),
                 id_number=resident_id_number("130730", date(1980, 1, 2 + number), 10 + number,
                                              male=False),
                 phone=f"1381234567{number}", address="河北省怀来县沙城镇")
    session.add(WebhookSubscription(
        institution_id=county.id, url="https://his.example/hook", created_by_user_id=user.id,
        secret_encrypted=cipher_from_settings(settings).encrypt(SECRET_FIELD, "s3cret"),
    ))
    session.commit()


def all_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of Yilian's metadata, in primary-key order."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [tuple(row) for row in connection.execute(
                    select(table).order_by(*table.primary_key.columns))]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@pytest.fixture
def target_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    """A database that does not exist yet, to restore into (dropped afterwards)."""
    if backend.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    name = f"yilian_restored_{os.getpid()}"
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for leftover in _databases_like(name):
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)')
    finally:
        admin.dispose()


def _databases_like(prefix: str) -> list[str]:
    engine = make_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as connection:
            return list(connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s",
                {"p": prefix + "%"}).scalars())
    finally:
        engine.dispose()


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("YILIAN_DATABASE_URL", url)
    get_settings.cache_clear()


def damaged_copies(archive: Path) -> list[Path]:
    """The archive with one byte flipped in the middle, and cut to a third."""
    good = archive.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    damaged = archive.with_name("flipped.backup")
    damaged.write_bytes(bytes(flipped))
    truncated = archive.with_name("truncated.backup")
    truncated.write_bytes(good[: len(good) // 3])
    return [damaged, truncated]


def test_round_trip_restores_every_row_of_every_table_and_refuses_damage_and_overwrite(
    runner: CliRunner, session: Session, settings: Settings, db_url: str, target_url: str,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(session, settings)
    archive = tmp_path / "yilian.backup"
    made = runner.invoke(app, ["db", "backup", str(archive)])
    assert made.exit_code == 0, made.output
    source = all_rows(db_url)
    use_database(monkeypatch, target_url)

    for bad in damaged_copies(archive):
        for command in (["db", "verify", str(bad)], ["db", "restore", str(bad)]):
            result = runner.invoke(app, command)
            assert result.exit_code != 0, (command, result.output)
            assert "damaged" in result.output and len(result.output.strip().splitlines()) == 1
    if target_url.startswith("sqlite"):  # nothing was created, not even an empty database
        assert not Path(make_url(target_url).database or "").exists()
    else:
        assert _databases_like(make_url(target_url).database or "") == []

    assert runner.invoke(app, ["db", "verify", str(archive)]).exit_code == 0
    restored_run = runner.invoke(app, ["db", "restore", str(archive)])
    assert restored_run.exit_code == 0, restored_run.output
    restored = all_rows(target_url)

    # Each side has one audit record more than the archive: the backup's in the source,
    # the restore's in the restored database.
    *source_audit, backup_record = source.pop("audit_event")
    *restored_audit, restore_record = restored.pop("audit_event")
    actions = {column.name: i for i, column in enumerate(AuditEvent.__table__.columns)}
    assert backup_record[actions["action"]] == "db.backup"
    assert restore_record[actions["action"]] == "db.restore"
    assert restored_audit == source_audit and len(source_audit) > 10
    assert restored == source
    filled = [name for name, rows in source.items() if rows]
    assert len(filled) >= 10, filled  # the comparison covered many tables with rows

    again = runner.invoke(app, ["db", "restore", str(archive)])
    assert again.exit_code != 0
    assert "--force" in again.output and len(again.output.strip().splitlines()) == 1
    # Nothing replaced; the refusal itself is on the trail of the database it was aimed at.
    *kept, refusal = all_rows(target_url)["audit_event"]
    assert kept[-1] == restore_record
    assert refusal[actions["action"]] == "db.restore"
    assert refusal[actions["outcome"]] == AuditOutcome.FAILED
    assert json.loads(refusal[actions["detail"]])["refused"] == "restore_target_not_empty"

    assert "warning" not in restored_run.output
    # Restored on a server with another field key: it says which keys the data needs.
    monkeypatch.setenv("YILIAN_FIELD_KEY", base64.b64encode(b"k" * 32).decode())
    get_settings.cache_clear()
    forced = runner.invoke(app, ["db", "restore", "--force", str(archive)])
    assert forced.exit_code == 0, forced.output
    assert "previous data is kept" in forced.output
    assert "warning: values under field keys" in forced.output
    assert all_rows(target_url)["patient_record"] == source["patient_record"]


def _archive_at_revision(folder: Path, revision: str) -> Path:
    """A well-formed archive claiming another schema revision (its payload is never read)."""
    payload = folder / backup.SQLITE_PAYLOAD
    payload.write_bytes(b"not read: the revision is checked first")
    manifest = {"format": backup.FORMAT, "version": backup.FORMAT_VERSION, "backend": "sqlite",
                "created_at": "2026-12-01T00:00:00+00:00", "revision": revision,
                "payload": {"name": payload.name, "sha256": backup._sha256(payload),
                            "bytes": payload.stat().st_size},
                "tables": {}, "field_key_ids": {}}
    archive = folder / f"{revision}.backup"
    backup._write_archive(archive, manifest, payload, payload.name)
    return archive


@pytest.mark.parametrize(("revision", "advice"), [
    ("20261123_foundation", "add --upgrade to migrate it after restoring"),
    ("29991231_from_the_future", "restore it with the Yilian version that made it"),
])
def test_an_archive_of_another_schema_revision_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revision: str, advice: str,
) -> None:
    target = tmp_path / "restored.db"
    use_database(monkeypatch, f"sqlite:///{target}")
    result = CliRunner().invoke(app, ["db", "restore", str(_archive_at_revision(tmp_path,
                                                                               revision))])
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert advice in result.output and len(result.output.strip().splitlines()) == 1
    assert not target.exists()


def test_upgrade_migrates_an_older_backup_before_it_is_swapped_in(
    backend: Backend, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Databases of their own: the step back would otherwise reach the shared test database.
    with private_database(backend, tmp_path_factory, "older") as source, \
            private_database(backend, tmp_path_factory, "restored") as target:
        migrate.downgrade(source, "-1")
        archive = tmp_path / "older.backup"
        older = backup.backup(source, archive).revision

        report = backup.restore(target, archive, upgrade=True)

        engine = make_engine(target)
        try:
            with engine.connect() as connection:
                now = connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version").scalar()
        finally:
            engine.dispose()
    assert report.revision == older != now
    assert report.upgraded_to == now
