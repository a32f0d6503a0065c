"""`yilian patients …`: link a file in batch, retrain the linkage model."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from yilian.config import get_settings
from yilian.errors import InvalidInput
from yilian.patients import batch

patients_app = typer.Typer(help="Patient index (EMPI): batch linking and model training.",
                           no_args_is_help=True)


class _ProgressLine:
    """Prints each step's progress on one line of standard error, with elapsed seconds."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, step: str, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(f"\r[{elapsed:6.1f} s] {step:<9} {done:>10,} / {total:,}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _fail(error: InvalidInput) -> None:
    typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
    raise typer.Exit(code=1)


@patients_app.command("link")
def link(
    input_path: Path = typer.Argument(..., metavar="INPUT.csv", help="Records to link"),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Columns record_id, person_id, match_probability"
    ),
    review: Path | None = typer.Option(None, "--review", help="Write pairs needing review here"),
    model: Path | None = typer.Option(None, "--model", help="A retrained model (JSON)"),
) -> None:
    """Link every record of INPUT.csv to a person (columns: record_id, source, local_id,
    name, sex, birth_date, id_number, phone, address)."""
    settings = get_settings()
    try:
        summary = batch.link_csv(
            input_path,
            output,
            link_threshold=settings.empi_link_threshold,
            review_threshold=settings.empi_review_threshold,
            model_path=model or settings.empi_model_path,
            review_path=review,
            progress=_ProgressLine(),
        )
    except InvalidInput as error:
        _fail(error)
        return
    typer.echo(
        f"{summary.records:,} records → {summary.people:,} people "
        f"({summary.linked_by_id:,} joined by resident ID, {summary.linked_by_model:,} by the "
        f"model; {summary.review_pairs:,} pairs for review; {summary.invalid_ids:,} invalid IDs "
        f"ignored) in {summary.seconds:.1f} s"
    )


@patients_app.command("train")
def train(
    input_path: Path = typer.Argument(..., metavar="INPUT.csv", help="Records to learn from"),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the model (JSON)"),
) -> None:
    """Estimate the model's m and u probabilities from a file of records (no labels needed);
    point YILIAN_EMPI_MODEL_PATH at the result to use it."""
    try:
        trained = batch.train_csv(input_path, output, progress=_ProgressLine())
    except InvalidInput as error:
        _fail(error)
        return
    typer.echo(
        f"model written to {output} (λ = {trained['probability_two_random_records_match']:.3g})"
    )
