"""`yilian audit …`: export the trail of a period, and show how far back it reaches.

There is deliberately no command that deletes or changes audit records.
"""

from __future__ import annotations

import getpass
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import func, select

from yilian.audit import export
from yilian.audit import service as audit
from yilian.audit.models import AuditEvent
from yilian.config import Settings, get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.errors import YilianError

audit_app = typer.Typer(help="Audit trail: export (records are never deleted).",
                        no_args_is_help=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        typer.echo(f"错误 / Error: {first['msg']}", err=True)
        raise typer.Exit(code=1) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text}") from None


@audit_app.command("export")
def export_command(
    first_day: Annotated[str, typer.Option("--from", metavar="DATE",
                                           help="First day, YYYY-MM-DD (included)")],
    last_day: Annotated[str, typer.Option("--to", metavar="DATE",
                                          help="Last day, YYYY-MM-DD (included)")],
    output: Annotated[Path, typer.Option(help="File to write", dir_okay=False)],
    format: Annotated[export.ExportFormat, typer.Option(help="csv or jsonl")] = (
        export.ExportFormat.CSV
    ),
) -> None:
    """Write every audit record of a period (days in the platform's time zone) to a file;
    the export is itself audited."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    started = time.perf_counter()
    partial = output.with_name(f".{output.name}.partial")
    try:
        chosen = export.period(_day(first_day), _day(last_day),
                               timezone=settings.scheduling_timezone)
        factory = make_sessionmaker(engine)
        with transaction(factory) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            fixed, count = export.start(session, chosen, fmt=format)
        with partial.open("w", encoding="utf-8", newline="") as file:
            for chunk in export.lines(export.rows(factory, fixed), format):
                file.write(chunk)
        os.replace(partial, output)  # a file of the name is always a complete export
    except YilianError as error:
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        raise typer.Exit(code=1) from None
    except OSError as error:
        typer.echo(f"错误 / Error: cannot write {output}: {error.strerror}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        partial.unlink(missing_ok=True)
        engine.dispose()
    typer.echo(f"已导出 {count} 条审计记录 / {count} audit records exported to {output} "
               f"in {time.perf_counter() - started:.1f} s")


@audit_app.command("status")
def status() -> None:
    """How many records the trail holds, since when, and the retention period promised."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            count, oldest = session.execute(
                select(func.count(AuditEvent.id), func.min(AuditEvent.recorded_at))
            ).one()
    finally:
        engine.dispose()
    since = oldest.isoformat() if isinstance(oldest, datetime) else "-"
    typer.echo(f"records: {count}; oldest: {since}; retention: "
               f"{settings.audit_retention_days} days (never deleted by Yilian)")
