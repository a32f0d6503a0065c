"""The issue's worked cases through POST /api/v1/advisor/rank, costs checked against the
settlement engine's own estimate: a Huailai resident's cardiology care costs less at the
Huailai campus than at PKU People's in Beijing; a chest-pain emergency goes to the nearest
chest-pain centre whatever it costs; weights change the order; the cheapest and the soonest
options are always flagged; a patient the user may not see is not found."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.advisor.world import World, build
from tests.factories import bearer, make_user
from yilian.advisor import factors
from yilian.audit.models import AuditEvent
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.db import utcnow
from yilian.fhir.dates import CHINA_STANDARD_TIME
from yilian.registry import service as registry
from yilian.results import catalogue
from yilian.results import service as results
from yilian.results.models import HrScope
from yilian.results.schemas import QualificationCreate, ReportCreate
from yilian.settlement import service as settlements
from yilian.settlement.engine import BillLine, Filing

RANK = "/api/v1/advisor/rank"


def _rank(client: TestClient, username: str, body: dict[str, Any]) -> Any:
    response = client.post(RANK, json=body, headers=bearer(client, username))
    assert response.status_code == 200, response.text
    return response.json()


def _engine_estimate(session: Session, world: World, option: dict[str, Any],
                     filing: Filing | None = None) -> Any:
    """The settlement engine's own estimate of the bill the advisor says it used."""
    lines = [BillLine(line["code"], Decimal(line["qty"]), Decimal(line["unit_price"]))
             for line in option["cost"]["lines"]]
    return settlements.estimate(session, person_id=world.song_id,
                                institution_id=option["institution_id"], lines=lines,
                                filing=filing, on_date=_today())


def _today() -> date:
    return utcnow().astimezone(CHINA_STANDARD_TIME).date()


def _by_code(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {option["institution_code"]: option for option in answer["options"]}


def test_a_huailai_resident_pays_less_for_cardiology_at_the_huailai_campus(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    answer = _rank(client, world.huailai_doctor, {
        "person_id": world.song_id, "specialty": "cardiology", "kind": "inpatient",
        "diagnosis_code": "I25.1"})
    assert answer["home_region_code"] == "130730"
    codes = [option["institution_code"] for option in answer["options"]]
    assert codes.index("HL-CAMPUS") < codes.index("BJ-PKUPH")
    assert "BD-HOSP" not in codes  # Baoding is neither home nor a partner
    options = _by_code(answer)
    campus, beijing = options["HL-CAMPUS"], options["BJ-PKUPH"]
    # Each cost is the engine's estimate of the place's typical I25 bill on Song's coverage.
    for option in (campus, beijing):
        assert option["cost"]["bill_source"] == "institution"
        assert option["cost"]["bill_settlements"] == 2
        slip = _engine_estimate(session, world, option)
        assert Decimal(option["cost"]["psn_part_amt"]) == slip.psn_part_amt
        assert Decimal(option["cost"]["fund_pay_sumamt"]) == slip.fund_pay_sumamt
        assert Decimal(option["cost"]["medfee_sumamt"]) == slip.medfee_sumamt
    # The typical bill is the shorter stay (the lower median of the two settled).
    assert {line["code"]: line["qty"] for line in campus["cost"]["lines"]}["110900001"] == "7"
    campus_pays = _engine_estimate(session, world, campus).psn_part_amt
    beijing_pays = _engine_estimate(session, world, beijing).psn_part_amt
    assert campus_pays < beijing_pays
    assert Decimal(beijing["cost"]["difference_to_cheapest"]) == beijing_pays - campus_pays
    assert Decimal(campus["cost"]["difference_to_cheapest"]) == 0
    assert campus["cheapest"] and answer["cheapest_institution_id"] == world.huailai.id
    # Beijing's clinic is tomorrow, the campus's in four days: the soonest is flagged though
    # it is not first.
    assert beijing["soonest"] and not campus["soonest"]
    assert beijing["earliest_slot"]["slot_id"] == world.beijing_slot_id
    assert campus["earliest_slot"]["slot_id"] == world.huailai_slot_id
    assert answer["soonest_institution_id"] == world.beijing.id
    # Every factor is shown with its raw value, score and weight.
    cost_factor = next(f for f in beijing["factors"] if f["factor"] == "cost")
    assert Decimal(cost_factor["raw"]) == beijing_pays
    assert cost_factor["score"] == 0 and cost_factor["weight"] == 0.4
    assert abs(sum(f["weight"] for f in campus["factors"]) - 1) < 1e-9
    assert str(beijing_pays - campus_pays) in beijing["explanation_en"]
    assert beijing["distance_km"] > campus["distance_km"] == 0


def test_a_planned_bill_is_estimated_at_every_place(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    lines = [{"code": "330100001", "qty": "30", "unit_price": "1200.00"},
             {"code": "110900001", "qty": "10", "unit_price": "50.00"}]
    answer = _rank(client, world.huailai_doctor, {
        "patient_record_id": world.song_record_id, "specialty": "cardiology",
        "kind": "inpatient", "lines": lines})
    planned = [BillLine(line["code"], Decimal(line["qty"]), Decimal(line["unit_price"]))
               for line in lines]
    today = _today()
    for option in answer["options"]:
        assert option["cost"]["bill_source"] == "planned"
        slip = settlements.estimate(session, person_id=world.song_id,
                                    institution_id=option["institution_id"], lines=planned,
                                    on_date=today)
        assert Decimal(option["cost"]["psn_part_amt"]) == slip.psn_part_amt


def test_a_typical_bill_falls_back_to_the_level_then_the_network(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    answer = _rank(client, world.huailai_doctor, {
        "person_id": world.song_id, "specialty": "cardiology", "kind": "inpatient",
        "diagnosis_code": "J18.9"})
    options = _by_code(answer)
    # Only Baoding (level 3) settled J18: Beijing (level 3) goes by it as its level's, the
    # campus (level 2, none at its level) as the network's.
    assert options["BJ-PKUPH"]["cost"]["bill_source"] == "level"
    assert options["HL-CAMPUS"]["cost"]["bill_source"] == "network"
    assert options["BJ-PKUPH"]["cost"]["lines"] == options["HL-CAMPUS"]["cost"]["lines"]
    for option in options.values():
        slip = _engine_estimate(session, world, option)
        assert Decimal(option["cost"]["psn_part_amt"]) == slip.psn_part_amt
    # With no settled bill of the group anywhere an admission's cost is unknown, and said so.
    unknown = _rank(client, world.huailai_doctor, {
        "person_id": world.song_id, "specialty": "cardiology", "kind": "inpatient",
        "diagnosis_code": "K80.2"})
    for option in unknown["options"]:
        assert option["cost"] is None and not option["cheapest"]
        assert "K80" in next(f for f in option["factors"] if f["factor"] == "cost")["note_en"]


def test_weights_change_the_order_and_both_flags_stay(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    body = {"person_id": world.song_id, "specialty": "cardiology", "kind": "inpatient",
            "diagnosis_code": "I25.1"}
    by_cost = _rank(client, world.huailai_doctor, body)
    by_wait = _rank(client, world.huailai_doctor, {
        **body, "weights": {"cost": 0, "wait": 100, "results": 0, "distance": 0}})
    assert by_cost["options"][0]["institution_code"] == "HL-CAMPUS"
    assert by_wait["options"][0]["institution_code"] == "BJ-PKUPH"
    assert by_wait["cheapest_institution_id"] == world.huailai.id
    assert by_wait["soonest_institution_id"] == world.beijing.id
    wait_factor = next(f for f in by_wait["options"][0]["factors"] if f["factor"] == "wait")
    assert wait_factor["weight"] == 1 and wait_factor["score"] == 1
    # With a limit of one the cheapest is still in the answer, after the first.
    short = _rank(client, world.huailai_doctor, {
        **body, "limit": 1, "weights": {"cost": 0, "wait": 100, "results": 0, "distance": 0}})
    assert [o["institution_code"] for o in short["options"]] == ["BJ-PKUPH", "HL-CAMPUS"]
    assert short["options"][1]["rank"] == 2 and short["options"][1]["cheapest"]


def test_a_chest_pain_emergency_goes_to_the_nearest_chest_pain_centre(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    answer = _rank(client, world.huailai_doctor, {
        "person_id": world.song_id, "specialty": "cardiology", "kind": "inpatient",
        "urgency": "emergency", "green_channel": "chest_pain", "diagnosis_code": "I21.9",
        "weights": {"cost": 100, "wait": 0, "results": 0, "distance": 0}})
    assert answer["mode"] == "nearest_centre"
    codes = [option["institution_code"] for option in answer["options"]]
    assert codes == ["BJ-PKUPH", "BD-HOSP"]  # the campus has no chest-pain centre
    beijing, baoding = answer["options"]
    assert beijing["nearest"] and beijing["distance_km"] < baoding["distance_km"]
    # Baoding would cost less, and is said to, but cost does not rank a green channel.
    assert baoding["cheapest"] and not beijing["cheapest"]
    for option in (beijing, baoding):
        slip = _engine_estimate(session, world, option, filing=Filing.EMERGENCY)
        assert Decimal(option["cost"]["psn_part_amt"]) == slip.psn_part_amt
        assert option["cost"]["filing"] == "filed"  # emergency counts as filed
    assert Decimal(baoding["cost"]["psn_part_amt"]) < Decimal(beijing["cost"]["psn_part_amt"])
    assert "never by cost" in answer["explanation_en"]
    assert "不按费用排序" in answer["explanation_zh"]
    assert {f["factor"]: f["weight"] for f in beijing["factors"]}["cost"] == 0


def test_only_people_the_user_may_see_and_the_read_is_audited(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    body = {"person_id": world.song_id, "specialty": "cardiology"}
    refused = client.post(RANK, json=body, headers=bearer(client, world.baoding_doctor))
    assert refused.status_code == 404
    assert refused.json()["message_en"].startswith("Patient not found")
    analyst = make_user(session, role=Role.COMMISSION_ANALYST)
    session.commit()
    assert client.post(RANK, json=body,
                       headers=bearer(client, analyst.username)).status_code == 403
    # A patient asks for themself only.
    own = client.post(RANK, json=body, headers=bearer(client, world.patient))
    assert own.status_code == 200, own.text
    other = client.post(RANK, json={**body, "person_id": world.song_id + 1000},
                        headers=bearer(client, world.patient))
    assert other.status_code == 404
    _rank(client, world.huailai_doctor, body)
    session.expire_all()
    actions = set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.patient_id == world.song_id)))
    assert {"advisor.rank", "advisor.patient.read"} <= actions


def test_bad_requests_are_refused_in_both_languages(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    headers = bearer(client, world.huailai_doctor)
    for body in (
        {"person_id": world.song_id, "patient_record_id": world.song_record_id,
         "specialty": "cardiology"},
        {"person_id": world.song_id},
        {"person_id": world.song_id, "specialty": "cardiology",
         "weights": {"cost": 0, "wait": 0, "results": 0, "distance": 0}},
        {"person_id": world.song_id, "specialty": "cardiology", "diagnosis_code": "heart"},
        {"person_id": world.song_id, "specialty": "astrology"},
    ):
        response = client.post(RANK, json=body, headers=headers)
        assert response.status_code == 422, body
        shown = response.json()
        assert shown["message_zh"] and shown["message_en"]
        assert shown["message_zh"] != shown["message_en"]


def test_distance_and_scores() -> None:
    # Beijing (Tiananmen) to Shanghai (People's Square): about 1,068 km as the crow flies.
    assert 1060 < factors.great_circle_km(39.9042, 116.4074, 31.2304, 121.4737) < 1075
    assert factors.great_circle_km(40.4, 115.5, 40.4, 115.5) == 0
    assert factors.lower_is_better([100.0, 300.0, None, 200.0]) == [1.0, 0.0, 0.0, 0.5]
    assert factors.lower_is_better([5.0, 5.0]) == [1.0, 1.0]
    assert factors.higher_is_better([0.0, 2.0, 1.0]) == [0.0, 1.0, 0.5]
    shares = factors.shares({"cost": 3, "wait": 1})
    assert shares == {"cost": 0.75, "wait": 0.25}
    assert factors.weighted_total({"cost": 1.0, "wait": 0.0}, shares) == 0.75


def test_results_held_count_where_they_are_recognised(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    catalogue.load_jingjinji(session)
    # The campus's CT is marked 医联体HR: its lead hospital in Beijing recognises it, Baoding
    # (no agreement with either) does not.
    results.create_qualification(session, data=QualificationCreate(
        institution_id=world.huailai.id, item_group="CT", scope=HrScope.CONSORTIUM,
        valid_from=date(2025, 1, 1), valid_to=date(2027, 12, 31), eqa_reference="EQA 2025"))
    results.create_report(session, None, data=ReportCreate.model_validate({
        "person_id": world.song_id, "institution_id": world.huailai.id,
        "item_code": "JJJ-E010", "accession": "CT-ADV-1",
        "performed_at": utcnow() - timedelta(days=5), "status": "final",
        "conclusion": "双肺未见明显异常", "observations": [],
        "imaging_studies": [{"study_uid": "1.2.156.112605.1.9",
                             "viewer_url": "https://pacs.example/v"}],
    }))
    session.commit()
    answer = _rank(client, world.huailai_doctor, {
        "person_id": world.song_id, "specialty": "cardiology", "urgency": "emergency",
        "green_channel": "chest_pain"})
    held = {option["institution_code"]: option["recognisable_results"]
            for option in answer["options"]}
    assert held == {"BJ-PKUPH": 1, "BD-HOSP": 0}
    beijing = _by_code(answer)["BJ-PKUPH"]
    assert next(f for f in beijing["factors"] if f["factor"] == "results")["raw"] == "1"


def test_an_expert_is_sought_where_they_hold_clinics(
    client: TestClient, session: Session, settings: Settings
) -> None:
    world = build(session, settings)
    expert = registry.practitioner_by_code_or_raise(session, code="BJ-CARD-1")
    answer = _rank(client, world.patient, {"person_id": world.song_id,
                                           "practitioner_id": expert.id})
    assert [o["institution_code"] for o in answer["options"]] == ["BJ-PKUPH"]
    assert answer["options"][0]["earliest_slot"]["slot_id"] == world.beijing_slot_id
    assert answer["options"][0]["cost"]["bill_source"] == "visit_fee"
