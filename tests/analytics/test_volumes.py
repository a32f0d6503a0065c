"""The volume metric: the Baoding hospital's volumes against the year before its
trusteeship, worked by hand; the aggregate equals a recount from raw rows after mixed
intake; who sees which institutions; the page and the CSV export."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.analytics.conftest import HL7, Network, adt, hl7_headers
from tests.analytics.test_intake import encounter_body
from tests.factories import PASSWORD, bearer
from yilian.analytics import aggregates, history, service
from yilian.analytics.models import Encounter, VolumeKind, VolumeMonth
from yilian.cli import app as cli

HEADER = ",".join(history.COLUMNS)
PATIENTS = ("BD0001", "BD0002", "BD0003")  # local, Beijing-insured, unknown


def month_of(first_year: int, first_month: int, step: int) -> tuple[int, int]:
    index = first_year * 12 + first_month - 1 + step % 12
    return index // 12, index % 12 + 1


def history_file(baseline: int, period: int, kind: str, prefix: str) -> list[str]:
    """``baseline`` encounters spread over 2021-07 … 2022-06, ``period`` over 2023."""
    lines = []
    for number, (year, month, count) in enumerate(
            [(2021, 7, baseline), (2023, 1, period)]):
        for i in range(count):
            y, m = month_of(year, month, i)
            end = f"{y}-{m:02d}-13T10:00" if kind == "inpatient" else ""
            lines.append(f"BCHBD,PED,{PATIENTS[i % 3]},{prefix}{number}-{i},{kind},,"
                         f"{y}-{m:02d}-10T09:00,{end}")
    return lines


def load_history(session: Session) -> None:
    """The seeds' figures: outpatient 100 → 247 (2.47×), admissions 25 → 33 (1.32×),
    surgeries 13 → 45 (3.46×); one visit each side of the 2022-07-01 boundary."""
    lines = [HEADER, *history_file(99, 247, "outpatient", "MZ"),
             *history_file(25, 33, "inpatient", "ZY"), *history_file(13, 45, "surgery", "SS"),
             "BCHBD,PED,BD0001,EDGE1,outpatient,,2022-06-30T23:30,",  # Beijing June: baseline
             "BCHBD,PED,BD0001,EDGE2,outpatient,,2022-07-01T00:30,"]  # July: neither
    history.import_encounters(session, text="\n".join(lines) + "\n")
    session.commit()


def test_baseline_ratio_worked_example(client: TestClient, session: Session,
                                       network: Network) -> None:
    load_history(session)
    root = bearer(client, "root")
    answer = client.get("/api/v1/analytics/volumes", headers=root, params={
        "from": "2023-01", "to": "2023-12", "institution_id": network.baoding.id})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert "基线期" in report["definition"]["zh"] and "monthly mean" in report["definition"]["en"]
    rows = {row["kind"]: row for row in report["rows"]}
    # Baseline: the 12 months before the trusteeship began on 2022-07-01.
    assert {(r["baseline_from"], r["baseline_to"]) for r in rows.values()} == {
        ("2021-07", "2022-06")}
    figures = {kind: (row["baseline_total"], row["period_total"], row["ratio"])
               for kind, row in rows.items()}
    assert figures == {"outpatient": (100, 247, "2.47"), "admission": (25, 33, "1.32"),
                       "discharge": (25, 33, "1.32"), "surgery": (13, 45, "3.46")}
    # 247 visits of patients cycling local / Beijing-insured / unknown: 83, 82, 82.
    outpatient = rows["outpatient"]
    assert (outpatient["local"], outpatient["out_of_region"],
            outpatient["unknown_region"]) == (83, 82, 82)
    months = [m for m in report["months"] if m["kind"] == "outpatient"]
    assert len(months) == 12 and sum(m["total"] for m in months) == 247

    # An explicit one-month baseline (July 2022: the one edge visit): monthly means, 247/12 ÷ 1.
    explicit = client.get("/api/v1/analytics/volumes", headers=root, params={
        "from": "2023-01", "to": "2023-12", "kind": "outpatient",
        "baseline_from": "2022-07", "baseline_to": "2022-07"}).json()
    baoding = [r for r in explicit["rows"] if r["institution_code"] == "BCHBD"]
    assert [(r["baseline_total"], r["ratio"]) for r in baoding] == [(1, "20.58")]
    assert service.volume_ratio(247, 12, 1, 1) == Decimal("20.58")
    bad = client.get("/api/v1/analytics/volumes", headers=root,
                     params={"from": "2023-12", "to": "2023-01"})
    assert bad.status_code == 422

    # The CSV export carries the same figures and the definition.
    exported = client.get("/api/v1/analytics/volumes.csv", headers=root, params={
        "from": "2023-01", "to": "2023-12", "institution_id": network.baoding.id})
    text = exported.content.decode("utf-8-sig")
    assert exported.status_code == 200 and "倍数 ratio" in text
    assert ("BCHBD,北京儿童医院保定医院,,outpatient,2023-01,2023-12,247,83,82,82,"
            "2021-07,2022-06,100,2.47") in text
    assert "口径 / Definition" in text

    # So does the workbook: numbers as numbers, the definition under the rows.
    workbook = client.get("/api/v1/analytics/volumes.xlsx", headers=root, params={
        "from": "2023-01", "to": "2023-12", "institution_id": network.baoding.id})
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][13] == "倍数 ratio"
    assert ("BCHBD", "outpatient", 247, 100) in [
        (line[0], line[3], line[6], line[12]) for line in lines]
    assert str(lines[-1][0]).startswith("口径 / Definition")


def test_who_sees_which_institutions(client: TestClient, session: Session,
                                     network: Network) -> None:
    load_history(session)
    params = {"from": "2023-01", "to": "2023-12"}

    def institutions(username: str, **extra: object) -> set[str] | int:
        answer = client.get("/api/v1/analytics/volumes", headers=bearer(client, username),
                            params={**params, **extra})
        if answer.status_code != 200:
            return answer.status_code
        return {row["institution_code"] for row in answer.json()["rows"]}

    assert institutions("analyst") == {"BCHBD"}  # network-wide: the only one with data
    assert institutions("analyst_bd") == {"BCHBD"}  # Baoding's commission: its city
    assert institutions("analyst_bd", institution_id=network.huailai.id) == 403
    assert institutions("analyst", institution_id=network.huailai.id) == set()
    assert institutions("bd_doctor") == {"BCHBD"}  # hospital staff: their own
    assert institutions("hl_admin") == set()
    assert institutions("hl_admin", institution_id=network.baoding.id) == 403
    assert institutions("bd_clerk") == 403  # no analytics role


def test_aggregate_equals_recount_after_mixed_intake(
    client: TestClient, session: Session, network: Network, runner: CliRunner
) -> None:
    lines = [HEADER, *history_file(5, 7, "outpatient", "MZ"),
             *history_file(2, 3, "inpatient", "ZY"), *history_file(1, 2, "surgery", "SS")]
    history.import_encounters(session, text="\n".join(lines) + "\n")
    session.commit()
    his = bearer(client, "bd_his")
    for visit, start in (("F1", "2023-05-01T08:00:00+08:00"), ("F2", "2023-05-31T23:59:00+08:00"),
                         ("F1", "2023-06-01T08:00:00+08:00")):  # F1 re-sent, moved
        client.post("/fhir/r4/Encounter", headers=his,
                    json=encounter_body(network, visit=visit, start=start))
    client.post("/fhir/r4/Encounter", headers=his, json=encounter_body(
        network, visit="F2", start="2023-05-31T23:59:00+08:00", status="cancelled"))
    # HL7 corrects an imported stay's discharge (13 Jan → 1 Feb), admits another, adds a visit.
    headers = hl7_headers(client)
    for message in (adt("A01", "M1", visit="ZY1-0", admitted="202301100900"),
                    adt("A03", "M2", visit="ZY1-0", discharged="202302011000"),
                    adt("A01", "M3", visit="ZY-NEW", admitted="202307010100"),
                    adt("A04", "M4", patient="BD0002", visit="MZ-HL7",
                        admitted="202307150800")):
        assert "MSA|AA" in client.post(HL7, content=message.encode(), headers=headers).text

    def stored() -> dict[tuple[int, int, str, VolumeKind], tuple[int, int, int, int]]:
        session.expire_all()
        return {(r.institution_id, r.department_key, r.month, r.kind):
                (r.total, r.local, r.out_of_region, r.unknown_region)
                for r in session.scalars(select(VolumeMonth)) if r.total or r.local or
                r.out_of_region or r.unknown_region}

    recount = aggregates.recount_in_python(session.scalars(select(Encounter)))
    incremental = stored()
    assert incremental == recount
    # Hand check: the file has one visit a month in 2023-01 … 07 (patients cycling local,
    # Beijing-insured, unknown from January); June adds the moved F1 (local), July the A04,
    # May keeps only the file's (F1 moved away, F2 cancelled); the corrected discharge
    # leaves January for February.
    bd, ped = network.baoding.id, network.paediatrics.id
    assert incremental[(bd, ped, "2023-06", VolumeKind.OUTPATIENT)] == (2, 1, 0, 1)
    assert incremental[(bd, ped, "2023-05", VolumeKind.OUTPATIENT)] == (1, 0, 1, 0)
    assert incremental[(bd, ped, "2023-07", VolumeKind.OUTPATIENT)] == (2, 1, 1, 0)
    assert incremental[(bd, ped, "2023-02", VolumeKind.DISCHARGE)][0] == 2
    assert (bd, ped, "2023-01", VolumeKind.DISCHARGE) not in incremental

    result = runner.invoke(cli, ["analytics", "refresh"])
    assert result.exit_code == 0, result.output
    assert stored() == recount


def test_volumes_page_in_chinese(client: TestClient, session: Session, network: Network) -> None:
    load_history(session)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": "analyst_bd", "password": PASSWORD,
                                "csrf_token": token}, follow_redirects=False)
    shown = client.get("/analytics/volumes", params={"from": "2023-01", "to": "2023-12"})
    assert shown.status_code == 200
    assert "服务量" in shown.text and "口径" in shown.text and "2.47×" in shown.text
    assert 'href="/analytics/volumes" aria-current="page"' in shown.text  # in the menu
    assert "3.46×" in shown.text and "/api/v1/analytics/volumes.csv?from=2023-01" in shown.text
    english = client.get("/analytics/volumes", params={"from": "2023-01", "to": "2023-12",
                                                       "lang": "en"})
    assert "Service volumes" in english.text and "Ratio to baseline" in english.text

    # The form's "all kinds / all institutions" options send their fields empty: the same
    # table as leaving them out, not an error.
    blank = client.get("/analytics/volumes", params={
        "from": "2023-01", "to": "2023-12", "kind": "", "institution_id": "", "region": "",
        "baseline_from": "", "baseline_to": "", "agreement_id": ""})
    assert blank.status_code == 200 and "2.47×" in blank.text and "3.46×" in blank.text
    wrong = client.get("/analytics/volumes", params={"kind": "lunch"})
    assert wrong.status_code == 422

