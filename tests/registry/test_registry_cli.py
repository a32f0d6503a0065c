"""``yilian registry import/export``: one line per bad row and nothing imported, or a summary."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.registry.checks import count_institutions
from tests.registry.conftest import Network
from yilian.cli import app

HEADER = "code,name,region_code,level,grade,kind,parent_code\n"


def test_import_with_bad_rows_exits_non_zero_names_each_row_and_imports_nothing(
    runner: CliRunner, network: Network, session: Session, tmp_path: Path
) -> None:
    before = count_institutions(session)
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + (
        "OK1,好医院,130602,2,甲,general_hospital,\n"
        "BAD1,坏医院,130602,7,甲,general_hospital,\n"
        "BAD2,坏医院,139999,2,甲,general_hospital,\n"
        "OK2,好医院分院,130602,1,甲,general_hospital,OK1\n"
        "BAD3,坏医院,130602,2,甲,general_hospital,PKUPH-XX\n"
    ), encoding="gb18030")

    result = runner.invoke(app, ["registry", "import", str(path)])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == ("错误 / Error: 3 行有误，未导入任何数据 / "
                        "3 row(s) have errors; nothing was imported")
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "第 3 行 / line 3", "第 4 行 / line 4", "第 6 行 / line 6"]
    assert "Unknown region code: 139999" in lines[2]
    assert count_institutions(session) == before


def test_import_of_a_good_file_exits_zero_with_a_summary(
    runner: CliRunner, network: Network, session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "good.csv"
    path.write_text(HEADER + (
        "OK1,好医院,130602,2,甲,general_hospital,\n"
        "OK2,好医院分院,130602,1,甲,general_hospital,OK1\n"
        "PKUPH,北京大学人民医院,110102,3,甲,general_hospital,\n"
    ), encoding="utf-8-sig")

    result = runner.invoke(app, ["registry", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "imported institutions: 2 created, 0 updated"
    assert count_institutions(session) == 8


def test_export_writes_a_file_excel_reads_and_that_imports_back_unchanged(
    runner: CliRunner, network: Network, tmp_path: Path
) -> None:
    path = tmp_path / "institutions.csv"

    exported = runner.invoke(app, ["registry", "export", "institutions", "-o", str(path)])
    imported = runner.invoke(app, ["registry", "import", str(path)])
    unknown = runner.invoke(app, ["registry", "export", "patients"])

    assert exported.exit_code == 0, exported.output
    assert path.read_bytes().startswith(b"\xef\xbb\xbfcode,name,")
    assert "北京大学人民医院怀来院区" in path.read_text(encoding="utf-8-sig")
    assert imported.output.strip() == "imported institutions: 0 created, 0 updated"
    assert unknown.exit_code == 1
    assert "Unknown CSV kind: patients" in unknown.output
