"""`yilian consultations …`: escalate overdue requests (run it every few minutes from cron)."""

from __future__ import annotations

import getpass

import typer

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.consultations import service as consultations
from yilian.db import make_engine, make_sessionmaker, transaction

consultations_app = typer.Typer(help="Remote consultations: deadlines and escalation.",
                                no_args_is_help=True)


@consultations_app.command("escalate")
def escalate() -> None:
    """Escalate every request past its answer deadline to the consulted institution."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            ids = [c.id for c in consultations.escalate_overdue(session)]
    finally:
        engine.dispose()
    typer.echo(f"escalated {len(ids)} overdue consultations" + (f": {ids}" if ids else ""))
