"""`yilian results …`: load the recognition catalogue, print the savings ledger."""

from __future__ import annotations

from pathlib import Path

import typer

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.errors import YilianError
from yilian.results import catalogue
from yilian.results import service as results

results_app = typer.Typer(help="Shared results and mutual recognition: catalogue, savings.",
                          no_args_is_help=True)


@results_app.command("catalogue")
def load_catalogue(
    path: Path = typer.Argument(None, metavar="FILE.csv",
                                help="A region's catalogue (default: the Jing-Jin-Ji one)"),
) -> None:
    """Load a recognition catalogue CSV: every row checked, all rows or none."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            data = (path or catalogue.JINGJINJI_CSV).read_bytes()
            count = catalogue.load_csv(session, data=data)
    except YilianError as error:
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        for detail in error.details:
            typer.echo(f"  line {detail.get('line')}: {detail.get('field')}: "
                       f"{detail.get('message_zh')} / {detail.get('message_en')}", err=True)
        raise typer.Exit(code=1) from error
    finally:
        engine.dispose()
    typer.echo(f"已导入 {count} 个互认项目 / {count} recognition items loaded")


@results_app.command("savings")
def savings(month_from: str = typer.Option(None, help="YYYY-MM"),
            month_to: str = typer.Option(None, help="YYYY-MM")) -> None:
    """Print tests avoided and money saved per institution, item and month (CSV)."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            totals = results.savings_totals(session, month_from=month_from, month_to=month_to)
    finally:
        engine.dispose()
    typer.echo("month,institution_id,item_code,tests_avoided,amount")
    for total in totals:
        typer.echo(f"{total.month},{total.institution_id},{total.item_code},"
                   f"{total.tests_avoided},{total.amount}")
