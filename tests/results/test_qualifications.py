"""HR qualifications from the quality-control centre's CSV: a good file changes what the
recognition check says; a bad row refuses the whole file by its line and stores nothing;
importing the same file again changes nothing, a corrected row updates its mark. The CLI
and the admin page's upload run the same rules."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.results.conftest import Network, days_ago
from tests.results.test_pages import sign_in
from tests.results.test_recognition import LIPIDS, check, send
from yilian.cli import app
from yilian.errors import InvalidInput
from yilian.results import demo, qualifications
from yilian.results.models import HrScope, Qualification, Refusal

HEADER = ",".join(qualifications.COLUMNS)
# Baoding's lipids mark, re-issued as national (same institution, item and valid-from as the
# city mark the fixture gave it), and a new haematology mark for the Zhangjiakou hospital.
GOOD = "\n".join([
    HEADER,
    "BDFIRST,JJJ-L008,,全国HR,2025-01-01,2027-12-31,京津冀临检中心 2026-EQA-17",
    "ZJKFIRST,,HEMATOLOGY,city,2026-03-01,2028-02-29,京津冀临检中心 2026-EQA-18",
]).encode()
BAD = "\n".join([
    HEADER,
    "ZJKFIRST,,HEMATOLOGY,city,2026-03-01,2028-02-29,fine on its own",
    "ZJKFIRST,,CT,everywhere,2026-13-01,2027-01-01,",
]).encode()


def marks(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Qualification.id))) or 0


def test_a_good_file_changes_the_check_and_importing_it_again_changes_nothing(
    session: Session, network: Network
) -> None:
    send(session, network, LIPIDS, days_ago(3), at="baoding")
    session.commit()
    assert check(session, network, LIPIDS)[LIPIDS].refusal is Refusal.SCOPE  # 市HR only
    before = marks(session)

    done = qualifications.import_csv(session, data=GOOD)
    session.commit()

    assert (done.added, done.updated, done.unchanged) == (1, 1, 0)
    assert marks(session) == before + 1
    # The national mark now reaches Beijing: the lipids are recognised there.
    lipids = check(session, network, LIPIDS)[LIPIDS]
    assert lipids.refusal is None and lipids.recognisable[0].hr_scope is HrScope.NATIONAL

    again = qualifications.import_csv(session, data=GOOD)
    session.commit()
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert marks(session) == before + 1


def test_a_bad_row_refuses_the_whole_file_by_its_line(
    session: Session, network: Network
) -> None:
    before = marks(session)
    with pytest.raises(InvalidInput) as refused:
        qualifications.import_csv(session, data=BAD)
    session.rollback()

    assert refused.value.en.startswith("line 3, scope: unknown scope everywhere")
    assert "nothing imported" in refused.value.en and "未导入任何资质" in refused.value.zh
    assert {(d["line"], d["field"]) for d in refused.value.details} == {
        (3, "scope"), (3, "valid_from")}
    assert marks(session) == before  # not even line 2, which was fine

    unknown = "\n".join([HEADER, "NOPE,JJJ-X,,national,2026-01-01,2025-01-01,",
                         "BDFIRST,JJJ-L008,LIPIDS,city,2026-01-01,2027-01-01,"]).encode()
    with pytest.raises(InvalidInput) as refused:
        qualifications.import_csv(session, data=unknown)
    assert {(d["line"], d["field"]) for d in refused.value.details} == {
        (2, "institution_code"), (2, "item_code"), (2, "valid_to"), (3, "item_code")}


def test_the_demo_file_holds_the_demo_marks() -> None:
    rows = list(csv.DictReader(io.StringIO(qualifications.DEMO_CSV.read_text("utf-8"))))
    assert [(r["institution_code"], r["item_group"], HrScope(r["scope"]),
             date.fromisoformat(r["valid_from"]), date.fromisoformat(r["valid_to"]))
            for r in rows] == list(demo.QUALIFICATIONS)


def test_the_command_line_imports_or_names_the_bad_row(
    runner: CliRunner, session: Session, network: Network, tmp_path: Path
) -> None:
    folder = tmp_path
    before = marks(session)
    (folder / "bad.csv").write_bytes(BAD)
    refused = runner.invoke(app, ["results", "qualifications", "import",
                                  str(folder / "bad.csv")])
    assert refused.exit_code != 0
    [line] = [text for text in refused.output.splitlines() if text.strip()]
    assert "line 3, scope: unknown scope everywhere" in line
    assert marks(session) == before

    (folder / "good.csv").write_bytes(GOOD)
    done = runner.invoke(app, ["results", "qualifications", "import", str(folder / "good.csv")])
    assert done.exit_code == 0, done.output
    assert "1 added, 1 updated, 0 unchanged" in done.output
    assert marks(session) == before + 1


def test_the_admin_page_upload(client: TestClient, session: Session, network: Network) -> None:
    before = marks(session)
    csrf = sign_in(client, "root")
    refused = client.post("/results/qualifications/import", data={"csrf_token": csrf},
                          files={"file": ("bad.csv", BAD, "text/csv")})
    assert refused.status_code == 422
    assert "第 3 行 scope：互认范围不正确：everywhere" in refused.text
    assert marks(session) == before

    done = client.post("/results/qualifications/import", data={"csrf_token": csrf},
                       files={"file": ("good.csv", GOOD, "text/csv")}, follow_redirects=True)
    assert done.status_code == 200 and "互认资质已导入" in done.text
    assert "京津冀临检中心 2026-EQA-18" in done.text
    assert marks(session) == before + 1
    english = client.post("/results/qualifications/import?lang=en",
                          data={"csrf_token": csrf},
                          files={"file": ("bad.csv", BAD, "text/csv")})
    assert english.status_code == 422
    assert "a date must be YYYY-MM-DD: 2026-13-01" in english.text


def test_the_check_sees_a_mark_in_its_own_transaction_and_never_after_a_rollback(
    session: Session, network: Network
) -> None:
    send(session, network, LIPIDS, days_ago(3), at="baoding")
    session.commit()
    assert check(session, network, LIPIDS)[LIPIDS].refusal is Refusal.SCOPE

    qualifications.import_csv(session, data=GOOD)  # flushed, not committed
    assert check(session, network, LIPIDS)[LIPIDS].refusal is None
    session.rollback()

    assert check(session, network, LIPIDS)[LIPIDS].refusal is Refusal.SCOPE
