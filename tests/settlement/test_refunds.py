"""退费: a paid settlement may be reversed; the patient's payment is then refunded against the
receipt, once, and the patient's page says so."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.settlement.setup import build, settle_body
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from yilian.config import Settings
from yilian.settlement import service as settlements


def test_a_paid_settlement_is_reversed_then_refunded_once_against_its_receipt(
    app: FastAPI, client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk, song = bearer(client, net.clerk), bearer(client, net.patient)
    settled = client.post("/api/v1/settlement/settlements", json=settle_body(net, "RFD-00001"),
                          headers=clerk).json()
    base = f"/api/v1/settlement/settlements/{settled['id']}"
    receipt = client.post(f"{base}/payment", json={}, headers=song).json()
    assert receipt["amount"] == "939.60"  # Song's cash share (setup.py)

    early = client.post(f"{base}/refund", json={}, headers=clerk)
    assert early.status_code == 409 and early.json()["code"] == "not_reversed"
    reversed_ = client.post(f"{base}/reversal", json={"reason": "billing_error"}, headers=clerk)
    assert reversed_.status_code == 200 and reversed_.json()["status"] == "reversed"
    assert client.post(f"{base}/refund", json={}, headers=song).status_code == 403

    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as browser:
        sign_in(browser, net.patient)
        due = browser.get("/settlement/mine").text
        assert "待退还给您" in due and "939.60" in due and "待退费" in due

    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as cashier:
        sign_in(cashier, net.clerk)
        page = cashier.get(f"/settlement/{settled['id']}")
        assert "登记退费" in page.text
        done = cashier.post(f"/settlement/{settled['id']}/refund",
                            data={"csrf_token": csrf_of(page.text), "note": "窗口退现金"})
        assert done.status_code == 200 and "已退费" in done.text
    refund = client.get("/api/v1/settlement/settlements", headers=clerk)  # still one, reversed
    assert [row["status"] for row in refund.json()] == ["reversed"]
    refund = client.post(f"{base}/refund", json={}, headers=clerk)
    assert refund.status_code == 409
    assert refund.json()["code"] == "already_refunded"
    recorded = settlements.refund_of(session, settlement_id=settled["id"])
    assert recorded is not None and recorded.payment_id == receipt["id"]
    assert (str(recorded.amount), recorded.note) == ("939.60", "窗口退现金")

    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as browser:
        sign_in(browser, net.patient)
        mine = browser.get("/settlement/mine").text
        assert "已退费" in mine and recorded.refund_no in mine and "待退还给您" not in mine
        slip = browser.get(f"/settlement/{settled['id']}").text
        assert "已退费" in slip and "窗口退现金" in slip


def test_nothing_to_refund_when_the_patient_never_paid(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    settled = client.post("/api/v1/settlement/settlements", json=settle_body(net, "RFD-00002"),
                          headers=clerk).json()
    base = f"/api/v1/settlement/settlements/{settled['id']}"
    client.post(f"{base}/reversal", json={"reason": "wrong_patient"}, headers=clerk)
    unpaid = client.post(f"{base}/refund", json={}, headers=clerk)
    assert unpaid.status_code == 409 and unpaid.json()["code"] == "not_paid"
