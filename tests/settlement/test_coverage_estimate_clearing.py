"""Coverage and filing, estimates that store nothing, and clearing totals equal to the slips."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_user
from tests.settlement.setup import BIG_LINE, build, settle_body
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.fhir.dates import CHINA_STANDARD_TIME
from yilian.patients.models import InsuranceScheme
from yilian.registry.models import Institution
from yilian.settlement import coverage
from yilian.settlement import service as settlements
from yilian.settlement.engine import BillLine, Filing
from yilian.settlement.models import Settlement

HEBEI_VILLAGER = coverage.Insurance(1, "130730", InsuranceScheme.RESIDENT)


def test_filing_that_counts_where_and_when_care_happens() -> None:
    in_beijing = {"treatment_region": "110102"}
    # Jing-Jin-Ji: filed in the region since 2023-04-01, not before.
    assert coverage.effective_filing(HEBEI_VILLAGER, **in_beijing,
                                     on_date=date(2023, 4, 1)) is Filing.FILED
    assert coverage.effective_filing(HEBEI_VILLAGER, **in_beijing,
                                     on_date=date(2023, 3, 31)) is Filing.NONE
    # Outside the region an unfiled patient stays unfiled; emergency counts as filed.
    assert coverage.effective_filing(HEBEI_VILLAGER, treatment_region="310101",
                                     on_date=date(2026, 5, 1)) is Filing.NONE
    assert coverage.effective_filing(HEBEI_VILLAGER, treatment_region="310101",
                                     on_date=date(2026, 5, 1),
                                     stated=Filing.EMERGENCY) is Filing.FILED
    # A filing holds where it was made.
    filed_shanghai = coverage.Insurance(1, "130730", InsuranceScheme.RESIDENT, "",
                                        Filing.FILED, "310000")
    assert coverage.effective_filing(filed_shanghai, treatment_region="310101",
                                     on_date=date(2026, 5, 1)) is Filing.FILED
    assert coverage.effective_filing(filed_shanghai, treatment_region="440300",
                                     on_date=date(2026, 5, 1)) is Filing.NONE


def test_estimate_uses_the_engine_and_stores_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    lines = [BillLine("330100001", Decimal(30), Decimal("1200.00"))]
    at_home = settlements.estimate(session, person_id=net.person_id,
                                   institution_id=net.huailai_id, lines=lines,
                                   on_date=date(2026, 6, 1))
    in_beijing = settlements.estimate(session, person_id=net.person_id,
                                      institution_id=net.beijing_id, lines=lines,
                                      on_date=date(2026, 6, 1))
    # Home, level 2: (36,000 − 500) × 80 %. Beijing, level 3 and Jing-Jin-Ji filed, under the
    # Beijing catalogue (limit 1,500): (36,000 − 1,000) × 65 %.
    assert (at_home.hifp_pay, at_home.psn_part_amt) == (Decimal("28400.00"), Decimal("7600.00"))
    assert (in_beijing.filing, in_beijing.hifp_pay) == (Filing.FILED, Decimal("22750.00"))
    assert in_beijing.catalogue_version.startswith("110000_beijing_2026@")
    # Through the API, as the patient; nothing stored.
    answer = client.post("/api/v1/settlement/estimates", headers=bearer(client, net.patient),
                         json={"person_id": net.person_id, "institution_id": net.beijing_id,
                               "on_date": "2026-06-01", "lines": [BIG_LINE]})
    assert answer.status_code == 200 and answer.json()["slip"]["hifp_pay"] == "22750.00"
    assert session.scalar(select(func.count(Settlement.id))) == 0
    other = make_user(session, role=Role.PATIENT,
                      institution=session.get(Institution, net.huailai_id))
    session.commit()
    refused = client.post("/api/v1/settlement/estimates", headers=bearer(client, other.username),
                          json={"person_id": net.person_id, "institution_id": net.beijing_id,
                                "on_date": "2026-06-01", "lines": [BIG_LINE]})
    assert refused.status_code == 404


def test_clearing_totals_equal_the_sum_of_the_slips(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    ids = [client.post("/api/v1/settlement/settlements", json=settle_body(net, f"CLR-{n:04d}"),
                       headers=clerk).json()["id"] for n in range(3)]
    client.post(f"/api/v1/settlement/settlements/{ids[0]}/reversal",
                json={"reason": "wrong_filing"}, headers=clerk)
    coverage_answer = client.get(f"/api/v1/settlement/coverage/{net.person_id}", headers=clerk)
    assert coverage_answer.json()["insured_region_code"] == "130730"  # from the patient index
    recorded = client.put(f"/api/v1/settlement/coverage/{net.person_id}", headers=clerk, json={
        "insured_region_code": "130730", "scheme": "resident", "card_number": "H1307300001",
        "filing": "referral", "filed_region_code": "310000"})
    assert recorded.status_code == 200 and recorded.json()["card_number"] == "H1307300001"
    in_shanghai = client.get(f"/api/v1/settlement/coverage/{net.person_id}", headers=clerk,
                             params={"treatment_region": "310101", "on_date": "2026-05-01"})
    assert in_shanghai.json()["effective_filing"] == "referral"
    rows = client.get("/api/v1/settlement/clearing", params={"month": "2026-05"},
                      headers=clerk).json()
    # Reversed in a later month (today, December): May, perhaps paid, keeps all three.
    kept = [client.get(f"/api/v1/settlement/settlements/{i}", headers=clerk).json()["slip"]
            for i in ids]
    assert len(rows) == 1 and rows[0]["fund_region_code"] == "130700"
    assert rows[0]["settlements"] == 3
    for field in ("medfee_sumamt", "hifp_pay", "fund_pay_sumamt", "psn_part_amt"):
        assert Decimal(rows[0][field]) == sum(Decimal(slip[field]) for slip in kept)
    exported = client.get("/api/v1/settlement/clearing.csv", params={"month": "2026-05"},
                          headers=clerk)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    fund_column = table[0].index("基金支付合计 fund_pay_sumamt")
    assert table[-1][0].startswith("合计")
    assert table[-1][fund_column] == rows[0]["fund_pay_sumamt"]
    xlsx = client.get("/api/v1/settlement/clearing.xlsx", params={"month": "2026-05"},
                      headers=clerk)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.cell(row=2, column=7).value == 3


def _today_body(net: Any, key: str) -> dict[str, Any]:
    """Song's bill discharged today (China time): it clears in this month."""
    today = f"{datetime.now(CHINA_STANDARD_TIME):%Y-%m-%d}"
    return {**settle_body(net, key), "admission_date": today, "discharge_date": today}


def test_a_reversal_in_a_later_month_is_a_negative_adjustment_line_there(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)

    def settle(body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post("/api/v1/settlement/settlements", json=body, headers=clerk)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def reverse(settlement_id: int) -> dict[str, Any]:
        answer = client.post(f"/api/v1/settlement/settlements/{settlement_id}/reversal",
                             json={"reason": "billing_error"}, headers=clerk)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def clearing(month: str) -> list[dict[str, Any]]:
        return list(client.get("/api/v1/settlement/clearing", params={"month": month},
                               headers=clerk).json())

    may = [settle(settle_body(net, f"ADJ-MAY-{n}", lines=[BIG_LINE] if n else None))
           for n in range(2)]
    may_before = clearing("2026-05")
    later = reverse(may[1]["id"])  # the 36,000 bill, reversed today
    this_month = later["reversed_month"]
    assert this_month == f"{datetime.now(CHINA_STANDARD_TIME):%Y-%m}" != "2026-05"
    assert clearing("2026-05") == may_before  # the past month is never rewritten
    assert may_before[0]["settlements"] == 2

    today = settle(_today_body(net, "ADJ-NOW-1"))
    same_month = reverse(settle(_today_body(net, "ADJ-NOW-2"))["id"])
    assert same_month["reversed_month"] == this_month  # reversed in its own month: left out

    rows = clearing(this_month)
    assert [(row["line"], row["adjusts_month"], row["settlements"]) for row in rows] == [
        ("settlements", None, 1), ("adjustment", "2026-05", -1)]
    for field in ("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt",
                  "psn_part_amt"):
        assert Decimal(rows[0][field]) == Decimal(today["slip"][field])
        assert Decimal(rows[1][field]) == -Decimal(later["slip"][field])
    assert rows[1]["fund_pay_sumamt"] == "-28600.00"  # 2nd admission: (36,000 − 250) × 80 %

    exported = client.get("/api/v1/settlement/clearing.csv", params={"month": this_month},
                          headers=clerk)
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    fund = table[0].index("基金支付合计 fund_pay_sumamt")
    assert table[2][4].startswith("冲正调整") and table[2][5] == "2026-05"
    assert Decimal(table[-1][fund]) == (Decimal(today["slip"]["fund_pay_sumamt"])
                                        - Decimal(later["slip"]["fund_pay_sumamt"]))
