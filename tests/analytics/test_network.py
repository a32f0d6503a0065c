"""The agreement network and the programme counts on the demo network: the graph holds the
agreements of the demo's CSV files with both ends, filters narrow it, each reader sees what
their region or institution allows, the counts per region equal counts worked from the CSV
files, and the downloads hold the rows of the JSON. A worked example counts experts and
trainees."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import DEMO_PASSWORD, TEST_FIELD_KEY, DemoTemplate, demo_copy
from tests.factories import PASSWORD, bearer, make_institution, make_user
from tests.web.conftest import BROWSER_ACCEPT, sign_in
from yilian.app import create_app
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.demo import tables as demo_tables
from yilian.registry import service as registry
from yilian.registry.models import Institution, PractitionerRoleKind, PractitionerTitle
from yilian.registry.schemas import PractitionerCreate, PractitionerRoleCreate

API = "/api/v1/analytics"
TYPE_COLUMNS = {"trusteeship": "trusteeships", "co_built_department": "co_built_departments",
                "specialty_alliance": "specialty_alliances",
                "regional_medical_centre": "regional_medical_centres",
                "research_project": "research_projects", "new_technique": "new_techniques"}


# ---------------------------------------------------------------- the CSV files, read here


@dataclass(frozen=True)
class CsvAgreement:
    code: str
    type: str
    status: str
    start: date
    end: date | None
    parties: tuple[tuple[str, str], ...]  # (institution code, role)

    def in_force(self, first: date | None, last: date | None) -> bool:
        """Signed, started by the period's end, not ended before its start."""
        return (self.status != "draft" and (last is None or self.start <= last)
                and (first is None or self.end is None or self.end >= first))

    def pairs(self) -> set[tuple[str, str, str]]:
        leads = [code for code, role in self.parties if role == "lead"]
        members = [code for code, role in self.parties if role == "member"]
        return {(self.code, lead, member) for lead in leads for member in members}


def csv_agreements() -> list[CsvAgreement]:
    """The demo's agreements and new techniques, as its CSV files give them."""
    parties: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for party in demo_tables.read("agreement_parties.csv"):
        parties[party["agreement_code"]].append((party["institution_code"], party["role"]))
    found = [CsvAgreement(row["code"], row["type"], row["status"],
                          date.fromisoformat(row["start_date"]),
                          demo_tables.optional_date(row, "end_date"),
                          tuple(parties[row["code"]]))
             for row in demo_tables.read("agreements.csv")]
    found += [CsvAgreement(row["code"], "new_technique", row["status"],
                           date.fromisoformat(row["start_date"]), None,
                           ((row["lead_code"], "lead"), (row["member_code"], "member")))
              for row in demo_tables.read("new_techniques.csv")]
    return found


REGION_OF = {row["code"]: row["region_code"] for row in demo_tables.read("institutions.csv")}


def city(institution_code: str) -> str:
    return REGION_OF[institution_code][:4] + "00"


def expected_edges(first: date | None = None, last: date | None = None,
                   ) -> set[tuple[str, str, str]]:
    return {pair for agreement in csv_agreements() if agreement.in_force(first, last)
            for pair in agreement.pairs()}


def expected_programme(first: date | None = None, last: date | None = None,
                       ) -> dict[str | None, dict[str, int]]:
    """Per city (and None: in total) the agreement-based figures, counted from the CSVs."""
    counted = [a for a in csv_agreements() if a.in_force(first, last)]
    figures: dict[str | None, dict[str, int]] = {}
    cities = {city(code) for a in counted for code, _ in a.parties}
    for region in [*sorted(cities), None]:
        there = [a for a in counted
                 if region is None or any(city(code) == region for code, _ in a.parties)]
        institutions = {code for a in there for code, _ in a.parties
                        if region is None or city(code) == region}
        row = {"institutions": len(institutions),
               "agreements": sum(1 for a in there if a.type != "new_technique")}
        for kind, column in TYPE_COLUMNS.items():
            row[column] = sum(1 for a in there if a.type == kind)
        if region is not None:
            row["partners"] = len({code for a in there for code, _ in a.parties
                                   if city(code) != region})
        figures[region] = row
    return figures


# ---------------------------------------------------------------- the demo, served


@dataclass
class Demo:
    app: FastAPI
    client: TestClient
    ids: dict[str, int]  # institution code → id
    headers: dict[str, dict[str, str]]  # username → bearer header


@pytest.fixture(scope="module")
def demo(demo_template: DemoTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo network with two seated analysts (Zhangjiakou, Baoding) and a hospital
    administrator of the children's hospital's Baoding hospital."""
    with demo_copy(demo_template, tmp_path_factory, "network") as url:
        engine = make_engine(url)
        try:
            with make_sessionmaker(engine)() as session:
                for username, code, region in (("analyst_zjk", "ZJKWJW", "130700"),
                                               ("analyst_bd", "BDWJW", "130600")):
                    seat = make_institution(session, code=code, name=f"{code}卫生健康委员会",
                                            region_code=region)
                    analyst = make_user(session, role=Role.COMMISSION_ANALYST, username=username)
                    analyst.institution_id = seat.id
                make_user(session, role=Role.HOSPITAL_ADMIN, username="bchbd_admin",
                          institution=registry.institution_by_code_or_raise(session, code="BCH-BD"))
                session.commit()
                ids = {code: id_ for code, id_ in session.execute(
                    select(Institution.code, Institution.id))}
        finally:
            engine.dispose()
        settings = Settings(database_url=url, secret_file=tmp_path_factory.mktemp("s") / "x",
                            secret_key="network-secret-key-not-for-production-0123456789",
                            field_key=TEST_FIELD_KEY, log_json=True, log_level="WARNING")
        app = create_app(settings)
        try:
            with TestClient(app) as client:
                headers = {"admin": bearer(client, "admin", DEMO_PASSWORD),
                           "huailai.patient": bearer(client, "huailai.patient", DEMO_PASSWORD)}
                headers.update({name: bearer(client, name, PASSWORD)
                                for name in ("analyst_zjk", "analyst_bd", "bchbd_admin")})
                yield Demo(app, client, ids, headers)
        finally:
            app.state.engine.dispose()


def graph(demo: Demo, user: str = "admin", **params: Any) -> dict[str, Any]:
    answer = demo.client.get(f"{API}/network", headers=demo.headers[user], params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def edge_set(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["agreement_code"], e["lead_code"], e["member_code"]) for e in body["edges"]}


# ---------------------------------------------------------------- the graph


def test_the_graph_holds_every_signed_agreement_of_the_csvs_with_both_ends(demo: Demo) -> None:
    body = graph(demo)
    assert edge_set(body) == expected_edges()
    assert ("TG-2015-01", "BCH", "BCH-BD") in edge_set(body)
    assert ("TG-2025-01", "BCH", "BCH-BD") in edge_set(body)
    assert ("ZK-2022-01", "GAMH", "BDTCM") in edge_set(body)
    assert ("GJ-2022-05", "GAMH", "BDTCM") in edge_set(body)
    assert not any(code.startswith("QY-2023") for code, _, _ in edge_set(body))  # drafts
    trusteeship = next(e for e in body["edges"] if e["agreement_code"] == "TG-2015-01")
    assert (trusteeship["type"], trusteeship["status"], trusteeship["start_date"],
            trusteeship["end_date"]) == ("trusteeship", "ended", "2015-05-15", "2025-05-14")
    # Every end is a node, with its beds and province; the Baoding hospital's parties counted.
    nodes = {n["code"]: n for n in body["nodes"]}
    assert {code for e in edge_set(body) for code in e[1:]} == set(nodes)
    assert nodes["BCH-BD"]["province_code"] == "130000" and nodes["BCH-BD"]["beds"] == 800
    assert nodes["BCH"]["province_name"] == "北京市"
    assert nodes["BCH-BD"]["agreements"] == len(
        {code for code, lead, member in expected_edges() if "BCH-BD" in (lead, member)})
    assert "牵头方" in body["definition"]["zh"] and "lead–member" in body["definition"]["en"]


def test_filters_narrow_the_graph_to_the_period_type_region_institution_and_specialty(
        demo: Demo) -> None:
    year_2016 = graph(demo, **{"from": "2016-01-01", "to": "2016-12-31"})
    assert edge_set(year_2016) == expected_edges(date(2016, 1, 1), date(2016, 12, 31))
    assert ("TG-2015-01", "BCH", "BCH-BD") in edge_set(year_2016)
    assert ("TG-2025-01", "BCH", "BCH-BD") not in edge_set(year_2016)  # began 2025

    trusteeships = graph(demo, type="trusteeship")
    assert {e["type"] for e in trusteeships["edges"]} == {"trusteeship"}
    assert edge_set(trusteeships) == {e for e in expected_edges() if e[0].startswith("TG-")}
    both = graph(demo, type=["trusteeship", "co_built_department"])
    assert {e["type"] for e in both["edges"]} == {"trusteeship", "co_built_department"}

    huailai = graph(demo, region="130700")
    assert huailai["edges"] and all(
        "1307" in (city(e["lead_code"])[:4], city(e["member_code"])[:4])
        for e in huailai["edges"])
    assert edge_set(huailai) == {e for e in expected_edges()
                                 if "130700" in (city(e[1]), city(e[2]))}

    bdtcm = graph(demo, institution_id=demo.ids["BDTCM"])
    assert edge_set(bdtcm) == {e for e in expected_edges() if "BDTCM" in e[1:]}
    assert ("ZK-2022-01", "GAMH", "BDTCM") in edge_set(bdtcm)

    neurology = graph(demo, specialty="neurology")
    assert neurology["edges"] and {e["specialty"] for e in neurology["edges"]} == {"neurology"}

    drafts = graph(demo, status="draft")
    assert {e[0] for e in edge_set(drafts)} == {
        a.code for a in csv_agreements() if a.status == "draft" and a.pairs()}


def test_a_seated_analyst_sees_the_edges_touching_their_region_and_staff_their_own(
        demo: Demo) -> None:
    zhangjiakou = edge_set(graph(demo, "analyst_zjk"))
    assert zhangjiakou == {e for e in expected_edges() if "130700" in (city(e[1]), city(e[2]))}
    assert ("TG-2022-01", "PKUPH", "PKUPH-HL") in zhangjiakou  # both ends, Beijing one too
    assert ("TG-2015-01", "BCH", "BCH-BD") not in zhangjiakou  # Baoding only
    assert ("ZK-2022-01", "GAMH", "BDTCM") not in zhangjiakou
    # Asking for Baoding does not widen the Zhangjiakou analyst's view.
    assert not edge_set(graph(demo, "analyst_zjk", region="130600")) - zhangjiakou

    baoding = edge_set(graph(demo, "analyst_bd"))
    assert ("TG-2015-01", "BCH", "BCH-BD") in baoding
    assert ("TG-2022-01", "PKUPH", "PKUPH-HL") not in baoding

    own = edge_set(graph(demo, "bchbd_admin"))
    assert own == {e for e in expected_edges() if "BCH-BD" in e[1:]}

    patient = demo.client.get(f"{API}/network", headers=demo.headers["huailai.patient"])
    assert patient.status_code == 403
    assert demo.client.get(f"{API}/network").status_code == 401


def test_bad_filters_are_refused_in_both_languages(demo: Demo) -> None:
    reversed_ = demo.client.get(f"{API}/network", headers=demo.headers["admin"],
                                params={"from": "2023-01-01", "to": "2022-01-01"})
    assert reversed_.status_code == 422
    assert "起始日期" in reversed_.text and "first day" in reversed_.text
    for params in ({"region": "13"}, {"type": "merger"}, {"from": "2023-13-01"}):
        assert demo.client.get(f"{API}/network", headers=demo.headers["admin"],
                               params=params).status_code == 422
    missing = demo.client.get(f"{API}/programme", headers=demo.headers["admin"],
                              params={"from": "2024-01-01", "to": "2023-01-01"})
    assert missing.status_code == 422
    unknown = demo.client.get(f"{API}/network", headers=demo.headers["admin"],
                              params={"institution_id": 999999})
    assert unknown.status_code == 404


def test_the_page_shows_a_hospitals_own_edges_and_takes_the_forms_blank_fields(
        demo: Demo) -> None:
    with TestClient(demo.app, headers={"Accept": BROWSER_ACCEPT}) as browser:
        sign_in(browser, "bchbd_admin")
        blank = "from=&to=&region=&institution_id=&type=&specialty=&status="
        page = browser.get(f"/analytics/network?{blank}")
        assert page.status_code == 200, page.text
        for element in ('id="network-chart"', 'id="network-edges"', 'id="programme-table"',
                        'id="programme-chart"', 'id="network-xlsx"', 'id="programme-xlsx"'):
            assert element in page.text
        shown = set(re.findall(r'data-agreement="([^"]+)"', page.text))
        assert shown == {code for code, lead, member in expected_edges()
                         if "BCH-BD" in (lead, member)}
        bad = browser.get("/analytics/network?from=2023-13-01")
        assert bad.status_code == 422
        assert "筛选条件有误" in bad.text


# ---------------------------------------------------------------- the programme counts


def programme(demo: Demo, user: str = "admin", **params: Any) -> dict[str, Any]:
    answer = demo.client.get(f"{API}/programme", headers=demo.headers[user], params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def agreement_figures(body: dict[str, Any]) -> dict[str | None, dict[str, int]]:
    keys = ["institutions", "agreements", "partners", *TYPE_COLUMNS.values()]
    return {row["region_code"]: {k: row[k] for k in keys
                                 if not (k == "partners" and row["region_code"] is None)}
            for row in body["rows"]}


@pytest.mark.parametrize("period", [(None, None), (date(2016, 1, 1), date(2016, 12, 31)),
                                    (date(2022, 7, 1), date(2023, 6, 30))])
def test_programme_counts_per_region_equal_counts_worked_from_the_csvs(
        demo: Demo, period: tuple[date | None, date | None]) -> None:
    first, last = period
    params = {key: value.isoformat() for key, value in (("from", first), ("to", last))
              if value is not None}
    body = programme(demo, **params)
    assert agreement_figures(body) == expected_programme(first, last)
    assert body["rows"][-1]["region_code"] is None  # the total row comes last
    codes = [f["code"] for f in body["figures"]]
    assert {"agreements", "co_built_departments", "specialty_alliances", "new_techniques",
            "research_projects", "experts_received", "trainees_sent"} <= set(codes)
    assert all(f["zh"] and f["en"] for f in body["figures"])


def test_the_baoding_row_and_what_a_seated_analyst_sees(demo: Demo) -> None:
    whole = {row["region_code"]: row for row in programme(demo)["rows"]}
    assert whole[None]["region_name"] == "全网"
    assert whole["130600"]["region_name"] == "保定市"
    assert whole["110100"]["region_name"] == "北京市"  # not 市辖区
    hebei = {row["region_code"]: row for row in programme(demo, region="130000")["rows"]}
    assert set(hebei) == {"130100", "130600", "130700", None}
    assert hebei[None]["region_name"] == "合计"
    seated = {row["region_code"]: row for row in programme(demo, "analyst_zjk")["rows"]}
    assert set(seated) == {"130700", None}
    expected = expected_programme()["130700"]
    assert {k: seated["130700"][k] for k in expected} == expected
    assert seated[None]["agreements"] == expected["agreements"]


# ---------------------------------------------------------------- downloads


def sheet_rows(content: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_xlsx_and_csv_downloads_hold_the_rows_of_the_json(demo: Demo) -> None:
    params = {"region": "130600", "from": "2022-01-01", "to": "2022-12-31"}
    body = graph(demo, **params)
    answer = demo.client.get(f"{API}/network.xlsx", headers=demo.headers["admin"], params=params)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = sheet_rows(answer.content)
    heading = rows[0]
    assert heading[0] == "协议编号 agreement_code"
    column = {text.split(" ")[-1]: index for index, text in enumerate(heading)}
    data = [row for row in rows[1:len(body["edges"]) + 1]]
    assert [(r[column["agreement_code"]], r[column["lead_code"]], r[column["member_code"]],
             r[column["type"]], r[column["start_date"]]) for r in data] == [
        (e["agreement_code"], e["lead_code"], e["member_code"], e["type"], e["start_date"])
        for e in body["edges"]]
    assert str(rows[len(body["edges"]) + 2][0]).startswith("口径 / Definition")

    text = demo.client.get(f"{API}/network.csv", headers=demo.headers["admin"],
                           params=params).content.decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len([line for line in lines[1:] if line and not line[0].startswith("口径")]) == len(
        body["edges"])

    report = programme(demo)
    rows = sheet_rows(demo.client.get(f"{API}/programme.xlsx",
                                      headers=demo.headers["admin"]).content)
    column = {text.split(" ")[0]: index for index, text in enumerate(rows[0])}
    assert "共建科室" in column and "新技术新项目" in column
    labels = {f["code"]: f["label_zh"] for f in report["figures"]}
    for line, row in zip(rows[1:len(report["rows"]) + 1], report["rows"], strict=True):
        for code, label in labels.items():
            value = line[column[label]]
            assert (value if value != "" else None) == row[code]
        assert line[column["地区"]] == row["region_name"]


# ---------------------------------------------------------------- experts and trainees


def _practitioner(session: Session, code: str, home: str) -> None:
    registry.create_practitioner(session, data=PractitionerCreate(
        code=code, name=code, sex="male", title=PractitionerTitle.CHIEF_PHYSICIAN,
        specialty="cardiology", institution_code=home))


def _role(session: Session, who: str, where: str, role: PractitionerRoleKind, start: date,
          end: date | None = None) -> None:
    registry.create_role(session, data=PractitionerRoleCreate(
        practitioner_code=who, institution_code=where, role=role, start_date=start,
        end_date=end))


def test_experts_received_and_trainees_sent_worked_example(
        client: TestClient, session: Session, tmp_path: Path) -> None:
    """Two Beijing experts posted to Huailai (one of them twice, one only in 2021), a
    visiting expert in Baoding, a Huailai doctor training in Beijing, and a home-staff role
    that is no secondment."""
    make_institution(session, code="BJ", region_code="110102", level=3)
    make_institution(session, code="HL", region_code="130730")
    make_institution(session, code="BD", region_code="130602")
    for code, home in (("E1", "BJ"), ("E2", "BJ"), ("E3", "BJ"), ("T1", "HL"), ("S1", "HL")):
        _practitioner(session, code, home)
    stationed = PractitionerRoleKind.STATIONED_EXPERT
    visiting = PractitionerRoleKind.VISITING_EXPERT
    _role(session, "E1", "HL", stationed, date(2022, 7, 1), date(2022, 12, 31))
    _role(session, "E1", "HL", stationed, date(2023, 7, 1))
    _role(session, "E2", "HL", stationed, date(2021, 1, 1), date(2021, 6, 30))
    _role(session, "E3", "BD", visiting, date(2022, 4, 1))
    _role(session, "T1", "BJ", PractitionerRoleKind.TRAINEE, date(2022, 9, 1), date(2023, 2, 28))
    _role(session, "S1", "HL", PractitionerRoleKind.DEPARTMENT_DIRECTOR, date(2022, 1, 1))
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    session.commit()
    headers = bearer(client, "root")

    def figures(**params: str) -> dict[str | None, tuple[int, int]]:
        answer = client.get(f"{API}/programme", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        return {row["region_code"]: (row["experts_received"], row["trainees_sent"])
                for row in answer.json()["rows"]}

    everything = figures()
    assert everything["130700"] == (2, 1)  # E1 once for two postings, E2; T1 trains away
    assert everything["130600"] == (1, 0)
    assert everything[None] == (3, 1)
    in_2022 = figures(**{"from": "2022-01-01", "to": "2022-12-31"})
    assert in_2022["130700"] == (1, 1) and in_2022[None] == (2, 1)  # E2 left in 2021
