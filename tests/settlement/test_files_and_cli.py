"""Policy and catalogue files, the packaged ones included, and ``yilian settlement simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.settlement.worked import CATALOGUE_CSV, POLICY_YAML, policy_with
from yilian.cli import app
from yilian.errors import InvalidInput
from yilian.settlement.catalogue import load_catalogues, parse_catalogue
from yilian.settlement.policy import load_policies, parse_policy

BILL = {
    "insured_region": "130730", "scheme": "resident", "filing": "filed",
    "institution_level": 2, "treatment_region": "130730", "admission_date": "2024-06-01",
    "year_to_date": {"hifp_pay": 0, "admissions": 0},
    "lines": [{"code": "A001", "qty": 10, "unit_price": 33.33},
              {"code": "LB01", "qty": 4, "unit_price": 60.0},
              {"code": "NOPE", "qty": 1, "unit_price": 12.5}],
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("ratio: {1: 0.90, 2: 0.80, 3: 0.65}", "ratio: {1: 0.90, 2: 1.80, 3: 0.65}"), "ratio.2"),
        (("deductible: {1: 200, 2: 500, 3: 1000}", "deductible: {1: 200, 2: 500}"), "deductible"),
        (("valid_to: 2024-12-31", "valid_to: 2023-12-31"), "valid_to is before valid_from"),
        (("  mode: points", "  mode: percent"), "out_of_region.mode"),
        (("none: 0.20}", "}"), "lacks filing status none"),
        (("scheme: resident", "scheme: farmer"), "scheme"),
        (("annual_cap: 150000", "annual_cap: 150000\nsurprise: 1"), "surprise"),
    ],
)
def test_policy_mistakes_name_the_field(change: tuple[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_policy(POLICY_YAML.replace(*change), source="bad.yaml")
    assert field in raised.value.en and "bad.yaml" in raised.value.zh


def test_bands_must_rise_and_end_open() -> None:
    with pytest.raises(InvalidInput, match="band limits must rise"):
        parse_policy(policy_with("ratio_bands:\n  3: [{up_to: 500, ratio: 0.6}, "
                                 "{up_to: 100, ratio: 0.7}, {ratio: 0.8}]\n"), source="x.yaml")


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ("medical_assistance:\n  ratio: {orphan: 0.5}\n  annual_cap: 1000\n",
         "medical_assistance.ratio.orphan"),
        ("medical_assistance:\n  ratio: {subsistence: 1.5}\n  annual_cap: 1000\n",
         "medical_assistance.ratio.subsistence"),
        ("medical_assistance:\n  ratio: {none: 0.5}\n  annual_cap: 1000\n",
         "'none' is not an assistance category"),
        ("medical_assistance:\n  ratio: {}\n  annual_cap: 1000\n", "at least one"),
        ("medical_assistance:\n  ratio: {subsistence: 0.5}\n", "medical_assistance.annual_cap"),
    ],
)
def test_medical_assistance_mistakes_name_the_field(part: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_policy(policy_with(part), source="maf.yaml")
    assert message in raised.value.en and "maf.yaml" in raised.value.zh


def test_catalogue_mistakes_name_the_line() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_catalogue(CATALOGUE_CSV.replace("C001,丙类药,drug,C", "C001,丙类药,drug,D"),
                        source="c.csv")
    assert raised.value.details[0]["line"] == 5
    with pytest.raises(InvalidInput, match="lacks columns: price_limit"):
        parse_catalogue("code,name,category,class,class_b_self_pay_first\n", source="c.csv")


def test_the_packaged_policies_and_catalogues_load() -> None:
    policies = load_policies()
    assert {(p.insured_region, p.scheme.value) for p in policies} >= {
        ("130700", "resident"), ("130600", "resident"), ("110000", "employee")}
    catalogues = {c.region_code: c for c in load_catalogues()}
    hebei, beijing = catalogues["130000"], catalogues["110000"]
    assert {item.item_class.value for item in hebei.items.values()} == {"A", "B", "C"}
    # 就医地目录: the same bed costs a different limit in Beijing.
    assert hebei.items["110900001"].price_limit != beijing.items["110900001"].price_limit


def _files(tmp_path: Path, bill: dict[str, object]) -> list[str]:
    (tmp_path / "p.yaml").write_text(POLICY_YAML, encoding="utf-8")
    (tmp_path / "c.csv").write_text(CATALOGUE_CSV, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(bill), encoding="utf-8")
    return ["settlement", "simulate", "--policy", str(tmp_path / "p.yaml"),
            "--catalogue", str(tmp_path / "c.csv"), "--bill", str(tmp_path / "b.json")]


def test_simulate_prints_the_slip_and_numbers_equal_decimal_strings(tmp_path: Path) -> None:
    runner = CliRunner()
    as_numbers = runner.invoke(app, _files(tmp_path, BILL))
    assert as_numbers.exit_code == 0, as_numbers.output
    slip = json.loads(as_numbers.stdout)
    # 333.30 + (240 − 40 over − 40 first = 160) in scope = 493.30; − 500 deductible: nothing.
    assert (slip["medfee_sumamt"], slip["inscp_scp_amt"], slip["act_pay_dedc"],
            slip["hifp_pay"], slip["psn_cash_pay"]) == (
        "585.80", "493.30", "493.30", "0.00", "585.80")
    assert slip["not_in_catalogue"] == ["NOPE"]
    assert [line["code"] for line in slip["lines"]] == ["A001", "LB01", "NOPE"]
    as_strings = json.loads(json.dumps(BILL).replace("33.33", '"33.33"')
                            .replace("60.0", '"60.00"').replace(": 10,", ': "10",'))
    again = runner.invoke(app, _files(tmp_path, as_strings))
    assert again.exit_code == 0 and json.loads(again.stdout) == slip


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"scheme": "farmer"}, "field scheme"),
        ({"admission_date": "2025-02-01"}, "does not cover"),
        ({"lines": []}, "field lines"),
    ],
)
def test_simulate_refuses_bad_files_in_one_line(
    tmp_path: Path, broken: dict[str, object], message: str
) -> None:
    result = CliRunner().invoke(app, _files(tmp_path, {**BILL, **broken}))
    assert result.exit_code != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_simulate_refuses_unreadable_json(tmp_path: Path) -> None:
    args = _files(tmp_path, BILL)
    (tmp_path / "b.json").write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "不是有效的 JSON" in result.stderr
