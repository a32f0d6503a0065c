"""`yilian results …`: load the recognition catalogue and the HR qualifications, print the
savings ledger."""

from __future__ import annotations

from pathlib import Path

import typer

from yilian.config import get_settings
from yilian.db import make_engine, make_sessionmaker, transaction
from yilian.errors import YilianError
from yilian.results import catalogue, qualifications
from yilian.results import service as results

results_app = typer.Typer(help="Shared results and mutual recognition: catalogue, savings.",
                          no_args_is_help=True)
qualifications_app = typer.Typer(help="HR qualifications from quality evaluation (EQA).",
                                 no_args_is_help=True)
results_app.add_typer(qualifications_app, name="qualifications")


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


@qualifications_app.command("import")
def import_qualifications(
    path: Path = typer.Argument(..., metavar="FILE.csv", exists=True, dir_okay=False,
                                help="The quality-control centre's qualifications file"),
) -> None:
    """Import HR qualifications from a CSV: every row checked, all rows or none; a known
    mark (institution, item or group, valid-from) is updated, a new one added."""
    engine = make_engine(get_settings().database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            done = qualifications.import_csv(session, data=path.read_bytes())
    except YilianError as error:
        # One line: the first bad row and what is wrong with it (the message names the rest).
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        raise typer.Exit(code=1) from error
    finally:
        engine.dispose()
    typer.echo(f"互认资质：新增 {done.added}，更新 {done.updated}，未变 {done.unchanged} / "
               f"HR qualifications: {done.added} added, {done.updated} updated, "
               f"{done.unchanged} unchanged")
