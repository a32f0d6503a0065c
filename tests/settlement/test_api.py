"""Settling, replaying, reversing, re-settling and paying through the REST API."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import bearer
from tests.settlement.setup import SONG_LINES, build, settle_body
from yilian.audit.models import AuditEvent
from yilian.config import Settings
from yilian.settlement import service as settlements
from yilian.settlement.models import SettlementEvent

SETTLE = "/api/v1/settlement/settlements"


def test_settle_replay_reverse_resettle_and_pay(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    clerk = bearer(client, net.clerk)
    first = client.post(SETTLE, json=settle_body(net, "HL-2026-0001"), headers=clerk)
    assert first.status_code == 201, first.text
    slip = first.json()["slip"]
    assert {k: slip[k] for k in ("medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay",
                                 "preselfpay_amt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay",
                                 "fund_pay_sumamt", "psn_part_amt", "psn_cash_pay")} == {
        "medfee_sumamt": "1250.00", "fulamt_ownpay_amt": "300.00", "overlmt_selfpay": "20.00",
        "preselfpay_amt": "42.00", "inscp_scp_amt": "888.00", "act_pay_dedc": "500.00",
        "hifp_pay": "310.40", "fund_pay_sumamt": "310.40", "psn_part_amt": "939.60",
        "psn_cash_pay": "939.60",
    }
    assert first.json()["policy_version"].startswith("130700_resident_2026@")
    assert first.json()["catalogue_version"].startswith("130000_hebei_2026@")
    settlement_id = first.json()["id"]

    # The same key again: the same settlement, never a second payment.
    again = client.post(SETTLE, json=settle_body(net, "HL-2026-0001"), headers=clerk)
    assert (again.status_code, again.json()["id"], again.json()["slip"]) == (
        200, settlement_id, slip)
    ytd = settlements.year_to_date(session, person_id=net.person_id, year=2026)
    assert (ytd.hifp_pay, ytd.admissions) == (Decimal("310.40"), 1)
    # The same key with another bill is refused.
    other = settle_body(net, "HL-2026-0001", lines=SONG_LINES[:2])
    assert client.post(SETTLE, json=other, headers=clerk).status_code == 409

    # A second admission this year has the lower deductible (250): (888 − 250) × 80 % = 510.40.
    second = client.post(SETTLE, json=settle_body(net, "HL-2026-0002"), headers=clerk)
    assert second.json()["slip"]["hifp_pay"] == "510.40"

    # 冲正 the first: accumulators give back 310.40 and one admission; history appended.
    reversal = client.post(f"{SETTLE}/{settlement_id}/reversal",
                           json={"reason": "billing_error", "note": "床位天数录错"}, headers=clerk)
    assert reversal.status_code == 200 and reversal.json()["status"] == "reversed"
    session.expire_all()
    ytd = settlements.year_to_date(session, person_id=net.person_id, year=2026)
    assert (ytd.hifp_pay, ytd.admissions) == (Decimal("510.40"), 1)
    kinds = [e.kind.value for e in session.query(SettlementEvent).filter_by(
        settlement_id=settlement_id).order_by(SettlementEvent.id)]
    assert kinds == ["settled", "reversed"]
    assert client.post(f"{SETTLE}/{settlement_id}/reversal", json={"reason": "billing_error"},
                       headers=clerk).status_code == 409
    assert client.post(f"{SETTLE}/{settlement_id}/reversal", json={"reason": "other"},
                       headers=clerk).status_code == 422  # "other" needs a note

    # Re-settle after the reversal, with a new key.
    resettled = client.post(SETTLE, json=settle_body(net, "HL-2026-0003"), headers=clerk)
    assert resettled.status_code == 201 and resettled.json()["slip"]["hifp_pay"] == "510.40"

    # Song sees and pays her own share; a receipt; a second payment is refused.
    patient = bearer(client, net.patient)
    mine = client.get(SETTLE, headers=patient).json()
    assert {row["id"] for row in mine} == {settlement_id, second.json()["id"],
                                           resettled.json()["id"]}
    paid = client.post(f"{SETTLE}/{resettled.json()['id']}/payment", json={}, headers=patient)
    assert paid.status_code == 201 and paid.json()["amount"] == "739.60"
    assert paid.json()["receipt_no"].startswith("R")
    assert client.post(f"{SETTLE}/{resettled.json()['id']}/payment", json={},
                       headers=patient).status_code == 409
    # A paid settlement may be reversed too; its payment is then refunded (test_refunds.py).
    paid_reversal = client.post(f"{SETTLE}/{resettled.json()['id']}/reversal",
                                json={"reason": "billing_error"}, headers=clerk)
    assert paid_reversal.status_code == 200 and paid_reversal.json()["status"] == "reversed"
    assert session.query(AuditEvent).filter(AuditEvent.action == "settlement.settle",
                                            AuditEvent.patient_id == net.person_id).count() == 3


def test_only_the_treating_institutions_clerks_settle_and_see(
    client: TestClient, session: Session, settings: Settings
) -> None:
    net = build(session, settings)
    beijing = bearer(client, net.beijing_clerk)
    # Another institution's clerk may not settle for the Huailai campus.
    assert client.post(SETTLE, json=settle_body(net, "HL-2026-0009"),
                       headers=beijing).status_code == 403
    # Nor settle at Beijing a patient they may not see (404, existence does not leak).
    refused = client.post(SETTLE, json=settle_body(net, "BJ-2026-0001",
                                                   institution_id=net.beijing_id),
                          headers=beijing)
    assert refused.status_code == 404 and "message_zh" in refused.json()
    done = client.post(SETTLE, json=settle_body(net, "HL-2026-0010"),
                       headers=bearer(client, net.clerk))
    assert client.get(f"{SETTLE}/{done.json()['id']}", headers=beijing).status_code == 404
    assert client.post(SETTLE, json=settle_body(net, "HL-2026-0011"),
                       headers=bearer(client, net.patient)).status_code == 403
