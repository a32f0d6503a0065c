"""The commission overview and the institution page: the seeds' ratios on the page for an
analyst, the right scope for a hospital administrator, the default period (the last
complete year) and the default baseline (the earliest trusteeship, not its renewal)."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.analytics.conftest import Network
from tests.analytics.test_volumes import HEADER, load_history
from tests.factories import PASSWORD, bearer, make_agreement
from yilian.analytics import history
from yilian.analytics.metrics import last_complete_year
from yilian.registry.models import Agreement, AgreementType

YEAR = {"from": "2023-01", "to": "2023-12"}


def login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"username": username, "password": PASSWORD,
                                "csrf_token": token}, follow_redirects=False)


def ratio_cell(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}">')[1].split("<")[0]


def test_overview_for_the_baoding_analyst(client: TestClient, session: Session,
                                          network: Network) -> None:
    load_history(session)
    login(client, "analyst_bd")
    shown = client.get("/analytics/overview", params=YEAR)  # region: the analyst's city
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert "委员会" in html or "总览" in html
    assert ratio_cell(html, "ratio-BCHBD-outpatient") == "2.47×"
    assert ratio_cell(html, "ratio-BCHBD-admission") == "1.32×"
    assert ratio_cell(html, "ratio-BCHBD-surgery") == "3.46×"
    assert 'id="overview-region"' in html and 'value="130600" selected' in html
    for element in ("outflow-chart", "outflow-table", "referrals-chart", "referral-flows-table",
                    "green-channel-table", "clinics-table", "settlement-table",
                    "network-link", "outflow-xlsx", "volumes-xlsx"):
        assert f'id="{element}"' in html, element
    assert "BCH\"" not in html.split('id="ratios-table"')[1].split("</table>")[0]
    assert "<script>" not in html  # CSP: scripts come from /static/js only
    assert 'href="/analytics/overview" aria-current="page"' in html
    other = client.get("/analytics/overview", params={**YEAR, "region": "130700"})
    assert other.status_code == 403


def test_overview_form_and_agreement_filter(client: TestClient, session: Session,
                                            network: Network) -> None:
    agreement = session.scalars(select(Agreement)).one()
    agreement.specialty = "paediatrics"
    session.commit()
    login(client, "analyst_bd")
    # The form's "all" options come back empty.
    blank = client.get("/analytics/overview", params={
        **YEAR, "region": "130600", "institution_id": "", "specialty": "", "agreement_id": ""})
    assert blank.status_code == 200, blank.text
    assert f'<option value="{agreement.id}">{agreement.code}' in blank.text
    chosen = client.get("/analytics/overview", params={**YEAR, "agreement_id": agreement.id})
    assert ratio_cell(chosen.text, "outflow-agreement") == agreement.code
    assert ratio_cell(chosen.text, "outflow-specialty") == "paediatrics"


def test_overview_for_hospital_staff(client: TestClient, session: Session,
                                     network: Network) -> None:
    load_history(session)
    login(client, "hl_admin")
    huailai = client.get("/analytics/overview", params=YEAR)  # Huailai's city: 130700
    assert huailai.status_code == 200
    assert 'value="130700" selected' in huailai.text
    assert 'id="ratio-BCHBD-outpatient"' not in huailai.text
    assert client.get("/analytics/overview", params={**YEAR, "region": "130600"}
                      ).status_code == 403
    assert client.get(f"/analytics/institutions/{network.baoding.id}").status_code == 403


def test_institution_page_before_and_after(client: TestClient, session: Session,
                                           network: Network) -> None:
    load_history(session)
    login(client, "bd_his")
    shown = client.get(f"/analytics/institutions/{network.baoding.id}", params=YEAR)
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert ratio_cell(html, "ratio-BCHBD-outpatient") == "2.47×"
    assert ratio_cell(html, "baseline-outpatient") == "100"
    assert ratio_cell(html, "period-outpatient") == "247"
    assert 'data-x="2021-07"' in html and 'data-x="2023-12"' in html  # baseline and period
    assert client.get(f"/analytics/institutions/{network.bch.id}").status_code == 403
    series = client.get(f"/api/v1/analytics/institutions/{network.baoding.id}/series.xlsx",
                        params=YEAR, headers=bearer(client, "bd_his"))
    assert series.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(series.content)).active
    assert sheet is not None
    report = client.get(f"/api/v1/analytics/institutions/{network.baoding.id}", params=YEAR,
                        headers=bearer(client, "bd_his")).json()
    months = [*report["baseline_months"], *report["volumes"]["months"]]
    lines = list(sheet.iter_rows(values_only=True))[1:1 + len(months)]
    assert [(m["month"], m["kind"], m["total"]) for m in months] == [
        (line[0], line[1], line[2]) for line in lines]


def test_default_period_and_first_trusteeship_baseline(client: TestClient, session: Session,
                                                       network: Network) -> None:
    first = make_agreement(session, network.bch, network.baoding,
                           type=AgreementType.TRUSTEESHIP, start=date(2015, 5, 15))
    make_agreement(session, network.bch, network.baoding, type=AgreementType.TRUSTEESHIP,
                   start=date(2025, 5, 15))
    session.commit()
    year = last_complete_year()[0][:4]
    lines = [HEADER, *(f"BCHBD,PED,BD0001,OLD{i},outpatient,,2014-0{5 + i}-10T09:00,"
                       for i in range(2)),
             *(f"BCHBD,PED,BD0001,NEW{i},outpatient,,{year}-0{3 + i}-10T09:00,"
               for i in range(3))]
    history.import_encounters(session, text="\n".join(lines) + "\n")
    session.commit()
    report = client.get("/api/v1/analytics/overview", headers=bearer(client, "analyst_bd"))
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["period_from"], body["period_to"]) == last_complete_year()
    row = next(r for r in body["volumes"]["rows"] if r["institution_code"] == "BCHBD")
    assert (row["baseline_from"], row["baseline_to"]) == ("2014-05", "2015-04")
    assert row["baseline_source"] == first.code
    outpatient = next(r for r in body["volumes"]["rows"]
                      if r["institution_code"] == "BCHBD" and r["kind"] == "outpatient")
    assert (outpatient["baseline_total"], outpatient["period_total"]) == (2, 3)
    assert outpatient["ratio"] == "1.50"
    assert body["outflow"]["baseline"]["period_from"] == "2014-05"


def test_overview_needs_a_region_for_the_platform(client: TestClient, session: Session,
                                                  network: Network) -> None:
    answer = client.get("/api/v1/analytics/overview", headers=bearer(client, "root"))
    assert answer.status_code == 422
    assert "地区" in answer.text and "region" in answer.text
    assert client.get("/api/v1/analytics/overview", headers=bearer(client, "root"),
                      params={"region": "130600"}).status_code == 200
