"""`yilian referrals …`: escalate overdue referrals (run it every few minutes from cron)."""

from __future__ import annotations

import getpass

import typer

from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.referrals import care

referrals_app = typer.Typer(help="Two-way referral: deadlines and escalation.",
                            no_args_is_help=True)


@referrals_app.command("escalate")
def escalate() -> None:
    """Escalate every unanswered referral past its deadline to the receiving department head."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            escalated = care.escalate_overdue(session)
            ids = [referral.id for referral in escalated]
    finally:
        engine.dispose()
    typer.echo(f"escalated {len(ids)} overdue referrals" + (f": {ids}" if ids else ""))
