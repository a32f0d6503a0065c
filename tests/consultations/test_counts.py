"""The consultation counts on a small hand-made set whose figures are worked out by hand:
by kind, institution and specialty, response times per urgency against their deadlines,
referred up vs kept local; the period, institution and kind filters; who sees which
consultations; the CSV and XLSX downloads; the page with its definitions and tables."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.consultations.conftest import API, Network, accepted, next_weekday_at, requested
from tests.factories import bearer, make_institution, make_user
from tests.web.conftest import sign_in
from yilian.auth.models import Role
from yilian.consultations.models import Consultation
from yilian.patients.models import Person
from yilian.registry.models import Institution

REPORT = {"findings": "", "assessment": "可在当地治疗", "recommendations": "本院随访",
          "refer_up": False}
# The worked set: requests 40 days ago at 10:00 Beijing time (02:00 UTC).
ASKED = (datetime.now(UTC) - timedelta(days=40)).replace(hour=2, minute=0, second=0,
                                                          microsecond=0)


def _reported(client: TestClient, net: Network, cid: int, experts: list[int]) -> None:
    """Scheduled, started and signed by the given experts (indexes into net.experts)."""
    starts = next_weekday_at(2, 15)
    assert client.post(f"{API}/{cid}/schedule", json={"starts_at": starts.isoformat()},
                       headers=net.coordinator).status_code == 200
    assert client.post(f"{API}/{cid}/start", headers=net.experts[experts[0]]).status_code == 200
    body = REPORT | ({"refer_up": True, "recommendations": "转上级医院手术"}
                     if len(experts) > 1 else {})
    assert client.put(f"{API}/{cid}/report", json=body,
                      headers=net.experts[experts[0]]).status_code == 200
    for index in experts:
        assert client.post(f"{API}/{cid}/report/sign",
                           headers=net.experts[index]).status_code == 200


def _times(session: Session, cid: int, *, asked: datetime, answer_minutes: int | None) -> None:
    """Put the request (and its answer) at hand-picked times."""
    row = session.get_one(Consultation, cid)
    row.requested_at = asked
    row.responded_at = (None if answer_minutes is None
                        else asked + timedelta(minutes=answer_minutes))


@pytest.fixture
def worked(client: TestClient, net: Network, session: Session) -> dict[str, int]:
    """Six consultations from the county to the tertiary hospital:

    1. MDT, urgent, cardiology: answered in 60 min (deadline 240), reported, referred up;
    2. single, routine: declined after 3000 min (deadline 2880: late);
    3. case discussion, routine, cardiology: not answered yet;
    4. single, emergency: accepted in 20 min (deadline 30), reported, kept local;
    5. single, routine: withdrawn before any answer (no response time);
    6. single, routine, two years ago: outside the default twelve months.
    """
    mdt = accepted(client, net)
    _reported(client, net, mdt, [0, 1, 2])
    assert client.post(f"{API}/{mdt}/referral", json={"consent_recorded": True},
                       headers=net.world.county).status_code == 201
    declined = int(str(requested(client, net, kind="single", urgency="routine",
                                 target_specialty="")["id"]))
    assert client.post(f"{API}/{declined}/decline", json={"reason": "请先完善冠脉 CTA"},
                       headers=net.coordinator).status_code == 200
    waiting = int(str(requested(client, net, kind="case_discussion", urgency="routine")["id"]))
    emergency = int(str(requested(client, net, kind="single", urgency="emergency",
                                  target_specialty="")["id"]))
    assert client.post(f"{API}/{emergency}/accept", json={"expert_ids": [net.expert_ids[0]]},
                       headers=net.coordinator).status_code == 200
    _reported(client, net, emergency, [0])
    withdrawn = int(str(requested(client, net, kind="single", urgency="routine",
                                  target_specialty="")["id"]))
    assert client.post(f"{API}/{withdrawn}/cancel", json={"reason": "病情好转"},
                       headers=net.world.county).status_code == 200
    old = int(str(requested(client, net, kind="single", urgency="routine",
                            target_specialty="")["id"]))
    _times(session, mdt, asked=ASKED, answer_minutes=60)
    _times(session, declined, asked=ASKED, answer_minutes=3000)
    _times(session, waiting, asked=ASKED, answer_minutes=None)
    _times(session, emergency, asked=ASKED, answer_minutes=20)
    _times(session, withdrawn, asked=ASKED, answer_minutes=None)
    _times(session, old, asked=ASKED - timedelta(days=730), answer_minutes=None)
    session.commit()
    return {"withdrawn": withdrawn, "old": old}


def _counted(rows: list[dict[str, object]]) -> dict[str, object]:
    return {str(r["key"]): r["count"] for r in rows}


def test_the_worked_set_counts_by_hand(client: TestClient, net: Network,
                                       worked: dict[str, int]) -> None:
    answer = client.get(f"{API}/counts", headers=net.coordinator)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["total"] == 5  # the sixth is older than twelve months
    assert _counted(got["by_kind"]) == {"single": 3, "mdt": 1, "case_discussion": 1}
    assert got["by_kind"][0] == {"key": "single", "name": "单科会诊",
                                 "name_en": "Single-specialty", "count": 3}
    assert _counted(got["by_specialty"]) == {"": 3, "cardiology": 2}
    county = got["by_requesting_institution"]
    assert [(r["key"], r["count"]) for r in county] == [(str(net.world.county_id), 5)]
    assert county[0]["name"]  # the institution's name, not just its id
    assert _counted(got["by_target_institution"]) == {str(net.world.tertiary_id): 5}
    # Answered: the MDT (60 min), the declined one (3000) and the emergency (20); the
    # withdrawn and the waiting ones have no response time. Median of 20, 60, 3000 = 60.
    assert got["answered"] == 3 and got["median_response_minutes"] == 60
    by_urgency = {r["urgency"]: r for r in got["response_by_urgency"]}
    assert [r["urgency"] for r in got["response_by_urgency"]] == ["emergency", "urgent",
                                                                 "routine"]
    assert by_urgency["emergency"] == {
        "urgency": "emergency", "name": "急会诊", "name_en": "Emergency", "deadline_minutes": 30,
        "answered": 1, "median_minutes": 20.0, "within_deadline": 1,
        "within_deadline_share": 1.0}
    assert (by_urgency["urgent"]["answered"], by_urgency["urgent"]["median_minutes"],
            by_urgency["urgent"]["within_deadline_share"]) == (1, 60.0, 1.0)
    assert (by_urgency["routine"]["deadline_minutes"], by_urgency["routine"]["answered"],
            by_urgency["routine"]["within_deadline"],
            by_urgency["routine"]["within_deadline_share"]) == (2880, 1, 0, 0.0)
    # Two signed reports: the MDT referred up, the emergency one kept local.
    assert (got["reported"], got["referred_up"], got["kept_local"],
            got["referred_up_share"]) == (2, 1, 1, 0.5)
    assert {d["code"] for d in got["definitions"]} >= {
        "total", "by_kind", "by_requesting_institution", "by_target_institution",
        "by_specialty", "response", "outcome"}


def test_filters_by_period_kind_and_institution(client: TestClient, net: Network,
                                                worked: dict[str, int]) -> None:
    def total(**params: object) -> object:
        answer = client.get(f"{API}/counts", headers=net.coordinator, params=params)
        return answer.json()["total"] if answer.status_code == 200 else answer.status_code

    asked_month = ASKED.astimezone(UTC).strftime("%Y-%m")
    old_month = (ASKED - timedelta(days=730)).strftime("%Y-%m")
    assert total(kind="single") == 3
    assert total(institution_id="", kind="", **{"from": "", "to": ""}) == 5  # the form's "all"
    assert total(kind="consult") == 422
    assert total(kind="mdt", **{"from": asked_month, "to": asked_month}) == 1
    assert total(**{"from": old_month, "to": old_month}) == 1
    assert total(institution_id=net.world.tertiary_id) == 5
    assert total(institution_id=net.world.county_id) == 403  # not the coordinator's own
    assert client.get(f"{API}/counts", headers=net.coordinator,
                      params={"from": "2026-13"}).status_code == 422
    backwards = client.get(f"{API}/counts", headers=net.coordinator,
                           params={"from": "2026-05", "to": "2026-01"})
    assert backwards.status_code == 422
    assert "起始月份" in backwards.text and "first month" in backwards.text


def test_readers_see_their_institution_or_region_only(
    client: TestClient, net: Network, session: Session, worked: dict[str, int],
) -> None:
    township = session.get_one(Institution, net.world.township_id)
    outsider = make_user(session, role=Role.HOSPITAL_ADMIN, institution=township)
    county_admin = make_user(session, role=Role.HOSPITAL_ADMIN,
                             institution=session.get_one(Institution, net.world.county_id))
    analyst = make_user(session, role=Role.COMMISSION_ANALYST)
    huailai = make_user(session, role=Role.COMMISSION_ANALYST)
    huailai.institution_id = township.id  # Huailai county's commission: the county's side
    baoding = make_institution(session, code="BD-C", region_code="130602")
    elsewhere = make_user(session, role=Role.COMMISSION_ANALYST)
    elsewhere.institution_id = baoding.id  # Baoding's: none of these
    session.commit()

    def total(username: str, **params: object) -> object:
        answer = client.get(f"{API}/counts", headers=bearer(client, username), params=params)
        return answer.json()["total"] if answer.status_code == 200 else answer.status_code

    assert total(county_admin.username) == 5
    assert total(analyst.username) == 5
    assert total(huailai.username) == 5
    assert total(elsewhere.username) == 0
    assert total(elsewhere.username, institution_id=net.world.county_id) == 403
    assert total(outsider.username) == 0
    assert total(outsider.username, institution_id=net.world.county_id) == 403
    assert total(analyst.username, institution_id=999_999) == 404
    assert client.get(f"{API}/counts", headers=net.world.county).status_code == 403


def test_csv_and_xlsx_carry_the_same_counts_and_definitions(
    client: TestClient, net: Network, worked: dict[str, int],
) -> None:
    csv = client.get(f"{API}/counts.csv", headers=net.coordinator)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert "维度 dimension" in text and "口径 / Definition" in text
    assert ",by_kind,single,单科会诊 Single-specialty,3,0.6," in text
    assert ",response,routine,普通 Routine,1,0.0,2880,3000.0,0" in text
    assert ",outcome,referred_up,上转 referred up,1,0.5," in text
    workbook = client.get(f"{API}/counts.xlsx", headers=net.coordinator,
                          params={"kind": "mdt"})
    assert workbook.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][2] == "维度 dimension"
    assert ("total", 1) in [(line[2], line[5]) for line in lines]
    assert ("response", "urgent", 1, 60) in [(line[2], line[3], line[5], line[8])
                                              for line in lines]
    assert str(lines[-1][0]).startswith("口径 / Definition")


def test_the_page_shows_each_count_beside_its_definition(
    client: TestClient, net: Network, session: Session, worked: dict[str, int],
) -> None:
    admin = make_user(session, role=Role.HOSPITAL_ADMIN,
                      institution=session.get_one(Institution, net.world.county_id))
    session.commit()
    sign_in(client, admin.username)
    page = client.get("/consultations/counts", params={"kind": "single"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="total">3<' in html
    for code in ("by_kind", "by_requesting_institution", "by_target_institution",
                 "by_specialty", "response", "outcome"):
        assert f'id="{code}-definition"' in html and f'id="{code}-table"' in html
    assert 'data-key="single" data-value="3"' in html
    assert "/api/v1/consultations/counts.xlsx?" in html and "kind=single" in html
    patient = session.get_one(Person, net.world.person_id)
    assert patient.name not in html  # counts only: no patient
    assert '<script>' not in html  # charts are drawn by the static script (CSP)
    assert client.get("/consultations").status_code == 200
    assert "/consultations/counts" in client.get("/consultations").text
