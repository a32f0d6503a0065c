"""``yilian scheduling …``: generate slots ahead, mark no-shows (both safe to run by cron)."""

from __future__ import annotations

import getpass
from datetime import date
from typing import Annotated

import typer

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.scheduling import service as scheduling

scheduling_app = typer.Typer(help="Clinic slots and appointments.", no_args_is_help=True)


@scheduling_app.command("generate")
def generate(
    days: Annotated[int | None, typer.Option(help="Horizon in days (default: configured)")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (today)")] = None,
) -> None:
    """Create the missing slots of every clinic for the horizon (idempotent)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            first = date.fromisoformat(start) if start else scheduling.local_today(
                settings.scheduling_timezone)
            made = scheduling.generate(
                session, today=first, horizon_days=days or settings.scheduling_horizon_days,
                zone=settings.scheduling_timezone,
            )
    finally:
        engine.dispose()
    typer.echo(f"{made} slots created / 新增号源 {made} 个")


@scheduling_app.command("mark-noshow")
def mark_noshow() -> None:
    """Booked appointments whose check-in window has closed become no-shows."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            marked = scheduling.mark_noshow(session, settings=settings)
    finally:
        engine.dispose()
    typer.echo(f"{marked} appointments marked no-show / 标记爽约 {marked} 个")
