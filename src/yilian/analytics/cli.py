"""`yilian analytics …`: import encounter history, rebuild the monthly aggregate."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import typer

from yilian.analytics import aggregates, history, metric_refresh
from yilian.audit import service as audit
from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.errors import YilianError

analytics_app = typer.Typer(help="Network analytics: encounter history and aggregates.",
                            no_args_is_help=True)


@analytics_app.command("import-encounters")
def import_encounters(
    path: Path = typer.Argument(..., metavar="FILE.csv", exists=True, dir_okay=False,
                                help="Encounter history (columns: see yilian.analytics.history)"),
) -> None:
    """Import a CSV of visits, stays and surgeries: every row checked, all rows or none."""
    engine = make_engine(get_settings().database_url)
    started = time.perf_counter()
    try:
        with transaction(make_sessionmaker(engine)) as session:
            audit.bind(session, audit.AuditContext(actor=f"cli:{getpass.getuser()}"))
            result = history.import_encounters(session, text=path.read_text(encoding="utf-8-sig"))
    except YilianError as error:
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    typer.echo(f"已导入 {result.rows} 条（新增 {result.inserted}，更新 {result.updated}）/ "
               f"{result.rows} encounters imported ({result.inserted} new, "
               f"{result.updated} updated) in {seconds:.1f} s")


@analytics_app.command("refresh")
def refresh() -> None:
    """Rebuild every analytics aggregate from the raw rows: volumes and outflow from the
    encounters, the other metrics from referrals, consultations, clinics, recognition and
    settlement (run after repairs or imports, and on a schedule for the metrics)."""
    engine = make_engine(get_settings().database_url)
    started = time.perf_counter()
    try:
        with transaction(make_sessionmaker(engine)) as session:
            buckets = aggregates.refresh(session)
            metric_buckets = metric_refresh.refresh_metrics(session)
    finally:
        engine.dispose()
    typer.echo(f"已重建 {buckets} 个服务量月度汇总、{metric_buckets} 个指标月度汇总 / "
               f"{buckets} volume and {metric_buckets} metric monthly buckets rebuilt in "
               f"{time.perf_counter() - started:.1f} s")
