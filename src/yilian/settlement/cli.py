"""``yilian settlement simulate``: settle a bill file under a policy and catalogue file."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from yilian.errors import InvalidInput, YilianError
from yilian.settlement import engine
from yilian.settlement.catalogue import load_catalogue
from yilian.settlement.policy import load_policy
from yilian.settlement.schemas import BillFile, slip_json

settlement_app = typer.Typer(help="Cross-region settlement 异地就医直接结算.",
                             no_args_is_help=True)


def read_bill(path: Path) -> BillFile:
    """A bill JSON file; JSON numbers are read exactly (as decimals), like decimal strings."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise InvalidInput("bill_unreadable", f"无法读取账单文件 {path}：{exc.strerror}",
                           f"Cannot read bill file {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("bill_invalid", f"账单文件 {path} 不是有效的 JSON：{exc}",
                           f"Bill file {path} is not valid JSON: {exc}") from None
    try:
        return BillFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(file)"
        message = first["msg"]
        raise InvalidInput("bill_invalid", f"账单文件 {path.name} 字段 {where} 有误：{message}",
                           f"Bill file {path.name}, field {where}: {message}") from None


def simulate_files(policy_path: Path, catalogue_path: Path, bill_path: Path) -> engine.Slip:
    """The slip of a bill file under a policy file and a catalogue file."""
    policy = load_policy(policy_path)
    catalogue = load_catalogue(catalogue_path)
    bill = read_bill(bill_path).to_bill()
    if not policy.covers(insured_region=bill.insured_region, scheme=bill.scheme,
                         on_date=bill.admission_date):
        raise InvalidInput(
            "policy_not_applicable",
            f"医保政策 {policy.version} 不适用于参保地 {bill.insured_region}、"
            f"{bill.scheme.value}、入院日期 {bill.admission_date}",
            f"Policy {policy.version} does not cover insured region {bill.insured_region}, "
            f"scheme {bill.scheme.value} on {bill.admission_date}",
        )
    return engine.settle(policy=policy, catalogue=catalogue, bill=bill)


@settlement_app.command("simulate")
def simulate(
    policy: Annotated[Path, typer.Option(help="Insured place's policy (YAML)")],
    catalogue: Annotated[Path, typer.Option(help="Treatment place's catalogue (CSV)")],
    bill: Annotated[Path, typer.Option(help="The bill (JSON)")],
) -> None:
    """Print the settlement slip of a bill as JSON, with per-line detail."""
    try:
        slip = simulate_files(policy, catalogue, bill)
    except YilianError as error:
        typer.echo(f"错误 / Error: {error.zh} / {error.en}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(slip_json(slip), ensure_ascii=False, indent=2))
