"""The ``yilian`` command: serve, migrate, users, registry import/export, demo data."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.orm import Session

from yilian import migrate
from yilian.analytics.cli import analytics_app
from yilian.audit import service as audit
from yilian.audit.cli import audit_app
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.config import get_settings
from yilian.consultations.cli import consultations_app
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.errors import NotFound, YilianError
from yilian.notify.cli import notify_app
from yilian.patients.cli import patients_app
from yilian.referrals.cli import referrals_app
from yilian.results.cli import results_app
from yilian.scheduling.cli import scheduling_app
from yilian.settlement.cli import settlement_app

app = typer.Typer(help="Yilian 医联 — regional medical collaboration platform.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
registry_app = typer.Typer(help="Registry import and export (CSV).", no_args_is_help=True)
demo_app = typer.Typer(help="The Jing-Jin-Ji demo network.", no_args_is_help=True)
keys_app = typer.Typer(help="Field-encryption keys: status, rotation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(registry_app, name="registry")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.add_typer(patients_app, name="patients")
app.add_typer(notify_app, name="notify")
app.add_typer(settlement_app, name="settlement")
app.add_typer(results_app, name="results")
app.add_typer(referrals_app, name="referrals")
app.add_typer(scheduling_app, name="scheduling")
app.add_typer(consultations_app, name="consultations")
app.add_typer(analytics_app, name="analytics")
app.add_typer(audit_app, name="audit")

T = TypeVar("T")
# Documented in the README; demo databases only. Production accounts come from `users create`.
DEMO_PASSWORD = "Demo@2026"  # noqa: S105


@app.callback()
def _check_settings() -> None:
    """Refuse to run on invalid settings, with one line saying which and why."""
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        typer.echo(f"错误 / Error: {where}: {first['msg']}", err=True)
        raise typer.Exit(code=1) from None


def fail(message: str) -> None:
    """Print one line saying what is wrong and exit non-zero."""
    typer.echo(message, err=True)
    raise typer.Exit(code=1)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction for one command, audited as done from the command line."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            yield session
    finally:
        engine.dispose()


def run_or_fail(step: Callable[[], T]) -> T:
    """Run a step; a Yilian error becomes one clear line and exit code 1."""
    try:
        return step()
    except YilianError as error:
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        for detail in error.details:
            line = detail.get("line")
            where = f"第 {line} 行 / line {line}: " if line is not None else ""
            typer.echo(f"  {where}{detail.get('message_zh', '')} / {detail.get('message_en', '')}",
                       err=True)
        raise typer.Exit(code=1) from None


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    migrate.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (``base`` empties the database)."""
    migrate.downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the revision the database is at."""
    migrate.current(get_settings().database_url)


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The archive to write")],
) -> None:
    """Write a consistent backup of the database (online) with a checksummed manifest."""
    from yilian import backup

    report = run_or_fail(lambda: backup.backup(get_settings().database_url, file))
    typer.echo(report.summary())


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="An archive of `db backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a database that holds data")
    ] = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", help="Migrate an older backup to this code's schema")
    ] = False,
) -> None:
    """Restore a backup, all or nothing, checked table by table against its manifest."""
    from yilian import backup

    report = run_or_fail(
        lambda: backup.restore(get_settings().database_url, file, force=force, upgrade=upgrade)
    )
    typer.echo(report.summary())
    from yilian.crypto import cipher_from_settings

    known = set(run_or_fail(lambda: cipher_from_settings(get_settings()).key_ids))
    missing = [key_id for key_id in report.field_key_ids if key_id not in known]
    if missing:
        typer.echo(f"warning: values under field keys {', '.join(missing)} cannot be read "
                   "with this keyring: install those keys (the key file or YILIAN_FIELD_KEYS)",
                   err=True)


@db_app.command("verify")
def db_verify(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="An archive of `db backup`")],
) -> None:
    """Check a backup archive: payload checksum, and each table's (SQLite)."""
    from yilian import backup

    manifest = run_or_fail(lambda: backup.verify(file))
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    typer.echo(f"{file}: intact ({manifest['backend']}, revision {manifest['revision']}, "
               f"{len(manifest['tables'])} tables, {rows} rows, made {manifest['created_at']})")


@keys_app.command("status")
def keys_status() -> None:
    """The keyring's keys and how many encrypted values and blind indexes each one holds."""
    from yilian import keys

    settings = get_settings()
    ids = run_or_fail(lambda: keys.key_ids(settings))

    def count() -> dict[str, dict[str, int]]:
        with unit_of_work() as session:
            return keys.status(session, legacy_key_id=ids[0])

    counts = run_or_fail(count)
    uses = keys.use_by_key(counts)
    for position, key_id in enumerate(ids):
        label = " (encrypts)" if position == len(ids) - 1 else ""
        use = uses.pop(key_id, keys.KeyUse())
        typer.echo(f"key {key_id}{label}: {use.values} values, {use.indexes} blind indexes")
    for key_id, use in uses.items():
        typer.echo(f"key {key_id} (NOT IN THE KEYRING): {use.values} values, "
                   f"{use.indexes} blind indexes")
    for column, per_key in counts.items():
        shown = ", ".join(f"{k} {n}" for k, n in per_key.items()) or "empty"
        typer.echo(f"  {column}: {shown}")


@keys_app.command("rotate")
def keys_rotate(
    new_key: Annotated[
        bool, typer.Option("--new-key/--no-new-key",
                           help="Install a new key first (else rotate to the newest)")
    ] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Values per transaction")] = 500,
) -> None:
    """Install a new field key; re-encrypt and re-index every value under it, online."""
    from yilian import keys
    from yilian.crypto import FieldDecryptionError, cipher_from_settings

    settings = get_settings()
    if new_key:
        key_id = run_or_fail(lambda: keys.install_new_key(settings))
        typer.echo(f"installed key {key_id} in {settings.field_key_file}")
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        try:
            report = keys.reencrypt(factory, lambda: cipher_from_settings(settings),
                                    batch_size=batch_size)
        except FieldDecryptionError as error:  # the batches done so far stay done
            fail(f"错误 / Error: {error}; the values re-encrypted so far stay so, "
                 "rerun `yilian keys rotate --no-new-key` once the keyring is complete")
            return
        with transaction(factory) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            audit.record(session, action="keys.rotate", entity_type="field_key",
                         entity_id=report.key_id,
                         detail={"reencrypted": report.reencrypted,
                                 "reindexed": report.reindexed, "batches": report.batches,
                                 "left_over": report.left_over})
    finally:
        engine.dispose()
    typer.echo(report.summary())
    if report.left_over:
        fail(f"{report.left_over} values or blind indexes are still under older keys (written "
             "meanwhile by a server that does not have the new key?): run "
             "`yilian keys rotate --no-new-key`")


@keys_app.command("retire")
def keys_retire(key_id: Annotated[str, typer.Argument(help="The key id to drop")]) -> None:
    """Drop a key from the key file, once no value and no blind index is under it."""
    from yilian import keys

    settings = get_settings()

    def drop() -> None:
        with unit_of_work() as session:
            keys.retire(session, settings, key_id)
            audit.record(session, action="keys.retire", entity_type="field_key",
                         entity_id=key_id)

    run_or_fail(drop)
    typer.echo(f"retired key {key_id}")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[Role, typer.Option(help="One of the six roles")],
    password: Annotated[str | None, typer.Option(help="Asked for when left out")] = None,
    institution: Annotated[str | None, typer.Option(help="Institution code")] = None,
    display_name: Annotated[str, typer.Option(help="Name shown in the UI")] = "",
    practitioner: Annotated[
        str | None, typer.Option(help="Practitioner code, linking a clinician to the registry")
    ] = None,
    person_id: Annotated[
        int | None, typer.Option(help="Patient index person id, linking a patient's account")
    ] = None,
) -> None:
    """Create a user account."""
    secret = password or typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    def create() -> None:
        with unit_of_work() as session:
            users.create(session, username=username, password=secret, role=role,
                         institution_code=institution, display_name=display_name,
                         practitioner_code=practitioner, person_id=person_id)

    run_or_fail(create)
    typer.echo(f"created user {username} ({role.value})")


@users_app.command("reset-2fa")
def users_reset_two_factor(
    username: Annotated[str, typer.Argument(help="Sign-in name")],
) -> None:
    """Remove a user's authenticator and recovery codes (lost phone) and sign them out
    everywhere; administrators and clerks set up a new one at their next sign-in."""
    from yilian.auth import totp

    def reset() -> None:
        with unit_of_work() as session:
            user = users.get_by_username(session, username=username)
            if user is None:
                raise NotFound("用户", "User", username)
            totp.reset(session, user=user)

    run_or_fail(reset)
    typer.echo(f"two-factor sign-in reset for {username}")


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import institutions or agreements from a CSV file (all rows or none)."""
    from yilian.registry import csvio

    def load() -> Any:
        with unit_of_work() as session:
            return csvio.import_csv(session, text=csvio.read_text(file.read_bytes()))

    report = run_or_fail(load)
    typer.echo(f"imported {report.kind}: {report.created} created, {report.updated} updated")


@registry_app.command("export")
def registry_export(
    kind: Annotated[str, typer.Argument(help="institutions | agreements")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File; stdout if left out")
    ] = None,
) -> None:
    """Export institutions or agreements as CSV."""
    from yilian.registry import csvio

    def dump() -> str:
        with unit_of_work() as session:
            return csvio.export_csv(session, kind=csvio.CsvKind.parse(kind))

    text = run_or_fail(dump)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8-sig")
        typer.echo(f"wrote {output}")


@demo_app.command("load")
def demo_load(
    password: Annotated[str, typer.Option(help="Password of every demo user")] = DEMO_PASSWORD,
) -> None:
    """Load the Jing-Jin-Ji demo network and one demo user per role (idempotent)."""
    migrate.upgrade(get_settings().database_url)
    _load_demo(password)


def _load_demo(password: str) -> None:
    from yilian import demo

    def load() -> Any:
        with unit_of_work() as session:
            return demo.load(session, get_settings(), password=password)

    report = run_or_fail(load)
    typer.echo(report.summary())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo network first")] = False,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Apply migrations, then serve the web UI, API and FHIR facade."""
    import uvicorn

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    if demo:
        _load_demo(DEMO_PASSWORD)
    settings.resolved_secret_key()  # create the key file once, before workers start
    typer.echo(f"Yilian 医联 listening on http://{host}:{port}/  (database: "
               f"{settings.database_url.split('@')[-1]})")
    uvicorn.run("yilian.asgi:app", host=host, port=port, workers=workers,
                log_config=None, proxy_headers=True)


def main() -> None:
    """Entry point for ``python -m yilian``."""
    app()
