"""``yilian notify deliver``: the outbox worker as a command."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker
from yilian.notify.delivery import Worker

notify_app = typer.Typer(help="Notifications: deliver webhooks and email.", no_args_is_help=True)


@notify_app.callback()
def notify_commands() -> None:
    """Notifications: deliver webhooks and email from the outbox."""


@notify_app.command("deliver")
def deliver(
    once: Annotated[
        bool, typer.Option("--once", help="Send what is due now, then exit")
    ] = False,
    batch: Annotated[
        int | None, typer.Option("--batch", min=1, help="Messages claimed at a time")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Messages sent at once")
    ] = None,
) -> None:
    """Send webhooks and email from the outbox (SIGTERM or Ctrl-C stops it cleanly)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    worker = Worker(settings, make_sessionmaker(engine), batch=batch, concurrency=concurrency)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if once:
            claimed = worker.run_until_idle()
            typer.echo(f"claimed {claimed} outbox messages")
        else:
            typer.echo(f"notify worker {worker.name} running (batch {worker.batch})")
            worker.run_forever()
    finally:
        engine.dispose()
