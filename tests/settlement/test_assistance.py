"""Medical assistance 医疗救助 through the service: the coverage record names the category,
the slip carries maf_pay inside fund_pay_sumamt, the accumulator counts it, reversal gives it
back and clearing shows it."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.settlement.setup import BIG_LINE, build, settle_body
from yilian.config import Settings
from yilian.settlement import service as settlements

D = Decimal


def test_a_subsistence_recipient_gets_medical_assistance_and_a_reversal_gives_it_back(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    recorded = client.put(f"/api/v1/settlement/coverage/{net.person_id}", headers=clerk, json={
        "insured_region_code": "130730", "scheme": "resident", "assistance": "subsistence"})
    assert recorded.status_code == 200 and recorded.json()["assistance"] == "subsistence"

    answer = client.post("/api/v1/settlement/settlements", headers=clerk,
                         json=settle_body(net, "MAF-00001", lines=[BIG_LINE]))
    assert answer.status_code == 201, answer.text
    slip = answer.json()["slip"]
    # Zhangjiakou residents, level 2: (36,000 − 500) × 80 % = 28,400 pooled; 7,600 left in
    # scope is below the critical-illness threshold (15,000); 低保 70 % of it = 5,320.00.
    assert (slip["hifp_pay"], slip["hifmi_pay"], slip["maf_pay"]) == (
        "28400.00", "0.00", "5320.00")
    assert (slip["fund_pay_sumamt"], slip["psn_part_amt"]) == ("33720.00", "2280.00")
    assert D(slip["medfee_sumamt"]) == D(slip["fund_pay_sumamt"]) + D(slip["psn_part_amt"])
    assert settlements.year_to_date(session, person_id=net.person_id, year=2026).maf_pay == (
        D("5320.00"))

    row = client.get("/api/v1/settlement/clearing", params={"month": "2026-05"},
                     headers=clerk).json()[0]
    assert (row["maf_pay"], row["fund_pay_sumamt"]) == ("5320.00", "33720.00")

    reversed_ = client.post(f"/api/v1/settlement/settlements/{answer.json()['id']}/reversal",
                            headers=clerk, json={"reason": "billing_error"})
    assert reversed_.status_code == 200, reversed_.text
    session.expire_all()
    assert settlements.year_to_date(session, person_id=net.person_id, year=2026).maf_pay == 0
