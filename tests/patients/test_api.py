"""The patient index REST API: register, find, share, review, merge and undo, all audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import bearer, make_institution, make_user, resident_id_number
from yilian.audit.models import AuditEvent
from yilian.auth.models import Role
from yilian.patients.models import PatientRecord, Person
from yilian.registry.models import Institution

API = "/api/v1/patients"
BORN = date(1968, 3, 14)
SONG_ID = resident_id_number("130730", BORN, 123, male=False)
SONG = {
    "local_id": "MZ000123", "name": "宋秀兰", "sex": "female", "birth_date": BORN.isoformat(),
    "id_number": SONG_ID, "phone": "13812345678", "address": "河北省怀来县沙城镇东大街12号",
}
# A 宋秀兰 born the same day, without an ID card and with another phone number: she, with a
# new number, or a namesake? The model is not sure enough to link: a person must decide.
SONG_NEW_PHONE = {"name": "宋秀兰", "sex": "female", "birth_date": BORN.isoformat(),
                  "phone": "13900001111"}


@dataclass
class Network:
    """Two hospitals, and a user of each kind the patient index distinguishes."""

    county: Institution  # Huailai county hospital, Hebei
    beijing: Institution  # a Beijing hospital, elsewhere in the network


@pytest.fixture
def network(session: Session) -> Network:
    county = make_institution(session, code="HLCOUNTY", name="怀来县医院")
    beijing = make_institution(session, code="PKUPH", name="北京大学人民医院",
                               region_code="110102", level=3)
    make_user(session, role=Role.CLINICIAN, institution=county, username="county_doctor")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=county, username="county_admin")
    make_user(session, role=Role.CLINICIAN, institution=beijing, username="bj_doctor")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=beijing, username="bj_admin")
    make_user(session, role=Role.PLATFORM_ADMIN, username="root")
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    session.commit()
    return Network(county, beijing)


@pytest.fixture
def as_user(client: TestClient, network: Network) -> dict[str, dict[str, str]]:
    """Bearer headers by username, signed in on first use."""

    class Headers(dict[str, dict[str, str]]):
        def __missing__(self, username: str) -> dict[str, str]:
            self[username] = bearer(client, username)
            return self[username]

    return Headers()


def register(client: TestClient, headers: dict[str, str], **fields: object) -> dict[str, Any]:
    """Register a record through the API; the RegistrationRead."""
    response = client.post(f"{API}/records", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def audited(session: Session, action: str, patient_id: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    return session.scalar(query) or 0


def test_clinician_registers_and_sees_the_patient_masked(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    doctor = as_user["county_doctor"]

    made = register(client, doctor, **SONG)
    person = client.get(f"{API}/{made['person_id']}", headers=doctor)

    assert made["outcome"] == "new_person" and made["review_ids"] == []
    assert person.status_code == 200
    record = person.json()["records"][0]
    assert record["local_id"] == "MZ000123"
    assert record["id_number_masked"] == SONG_ID[:6] + "********" + SONG_ID[-4:]
    assert record["phone_masked"] == "138****5678"
    for full in (SONG_ID, "13812345678"):
        assert full not in person.text and full not in str(made)
    found = client.get(API, params={"id_number": SONG_ID}, headers=doctor).json()
    assert [item["id"] for item in found["items"]] == [made["person_id"]]
    assert found["items"][0]["institution_ids"] == [made["record"]["institution_id"]]
    by_pinyin = client.get(API, params={"q": "Song Xiulan"}, headers=doctor).json()
    assert by_pinyin["total"] == 1
    assert client.get(API, params={"phone": "138 1234 5678"}, headers=doctor).json()["total"] == 1


def test_another_institution_sees_the_patient_only_once_shared(
    client: TestClient, network: Network, as_user: dict[str, dict[str, str]]
) -> None:
    made = register(client, as_user["county_doctor"], **SONG)
    person_url = f"{API}/{made['person_id']}"
    record_url = f"{API}/records/{made['record']['id']}"
    stranger = as_user["bj_doctor"]

    hidden = client.get(person_url, headers=stranger)
    assert hidden.status_code == 404  # not 403: the patient's existence does not leak
    assert hidden.json()["code"] == "not_found"
    assert client.get(record_url, headers=stranger).status_code == 404
    assert client.get(f"{person_url}/history", headers=stranger).status_code == 404
    assert client.get(API, params={"id_number": SONG_ID}, headers=stranger).json()["total"] == 0
    # a stranger can neither share the patient nor learn of them by trying
    refused = client.post(f"{person_url}/shares", json={"institution_id": network.beijing.id},
                          headers=stranger)
    assert refused.status_code == 404

    share = client.post(
        f"{person_url}/shares",
        json={"institution_id": network.beijing.id, "reason": "referral",
              "source_ref": "ZZ-2026-0042"},
        headers=as_user["county_doctor"],
    )
    assert share.status_code == 201, share.text
    assert share.json()["granted_by"] == "county_doctor"
    assert client.get(person_url, headers=stranger).status_code == 200
    assert client.get(record_url, headers=stranger).status_code == 200
    assert client.get(API, params={"q": "宋秀兰"}, headers=stranger).json()["total"] == 1
    shares = client.get(f"{person_url}/shares", headers=stranger).json()
    assert [(s["institution_id"], s["reason"]) for s in shares] == [
        (network.beijing.id, "referral")]

    revoked = client.delete(f"{person_url}/shares/{share.json()['id']}",
                            headers=as_user["county_doctor"])
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get(person_url, headers=stranger).status_code == 404
    again = client.delete(f"{person_url}/shares/{share.json()['id']}",
                          headers=as_user["county_doctor"])
    assert again.status_code == 409


def test_a_share_needs_a_time_zone_and_a_future_end(
    client: TestClient, network: Network, as_user: dict[str, dict[str, str]]
) -> None:
    made = register(client, as_user["county_doctor"], **SONG)
    url = f"{API}/{made['person_id']}/shares"

    naive = client.post(url, json={"institution_id": network.beijing.id,
                                   "expires_at": "2030-01-01T00:00:00"},
                        headers=as_user["county_doctor"])
    past = client.post(url, json={"institution_id": network.beijing.id,
                                  "expires_at": "2020-01-01T00:00:00+08:00"},
                       headers=as_user["county_doctor"])

    assert naive.status_code == 422
    assert past.status_code == 422 and past.json()["code"] == "share_expired"


def test_platform_admin_merges_two_people_and_undoes_it(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    song = register(client, as_user["county_doctor"], **SONG)
    # Beijing registered her only by a pinyin name and a phone number it mistyped.
    other = register(client, as_user["bj_doctor"], local_id="A-88", name="Song Xiulan",
                     phone="13912345678")
    assert other["person_id"] != song["person_id"]
    root = as_user["root"]
    survivor, retired = song["person_id"], other["person_id"]
    moved = other["record"]["id"]

    merge = client.post(f"{API}/merges", headers=root, json={
        "survivor_id": survivor, "retired_id": retired, "reason": "同一身份证，患者本人确认"})

    assert merge.status_code == 201, merge.text
    assert merge.json()["kind"] == "merged" and merge.json()["record_ids"] == [moved]
    merged = client.get(f"{API}/{survivor}", headers=root).json()
    assert sorted(r["local_id"] for r in merged["records"]) == ["A-88", "MZ000123"]
    gone = client.get(f"{API}/{retired}", headers=root).json()
    assert (gone["status"], gone["merged_into_id"], gone["records"]) == ("merged", survivor, [])

    undo = client.post(f"{API}/merges/{merge.json()['id']}/undo", headers=root,
                       json={"reason": "合并有误：电话号码属于其女儿"})

    assert undo.status_code == 200, undo.text
    assert undo.json()["reverses_id"] == merge.json()["id"]
    history = client.get(f"{API}/{survivor}/history", headers=root).json()
    kinds = [event["kind"] for event in history]
    assert kinds[:2] == ["unmerged", "merged"]
    assert history[1]["reversed_by_id"] == undo.json()["id"]
    session.expire_all()
    back = session.get(PatientRecord, moved)
    assert back is not None and back.person_id == retired
    restored = session.get(Person, retired)
    assert restored is not None and restored.status.value == "active"
    assert len(client.get(f"{API}/{survivor}", headers=root).json()["records"]) == 1
    again = client.post(f"{API}/merges/{merge.json()['id']}/undo", headers=root,
                        json={"reason": "again"})
    assert again.status_code == 409


def test_clinicians_may_not_merge_and_merges_need_a_reason(
    client: TestClient, as_user: dict[str, dict[str, str]]
) -> None:
    first = register(client, as_user["county_doctor"], **SONG)
    second = register(client, as_user["county_doctor"], local_id="MZ9", name="王芳")
    body = {"survivor_id": first["person_id"], "retired_id": second["person_id"]}

    assert client.post(f"{API}/merges", headers=as_user["county_doctor"],
                       json={**body, "reason": "x"}).status_code == 403
    assert client.post(f"{API}/merges", headers=as_user["root"], json=body).status_code == 422
    # an administrator of another hospital cannot even see the two
    assert client.post(f"{API}/merges", headers=as_user["bj_admin"],
                       json={**body, "reason": "x"}).status_code == 404


def test_bad_resident_id_is_a_bilingual_422_and_writes_nothing(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    wrong = SONG_ID[:-1] + ("0" if SONG_ID[-1] != "0" else "1")

    response = client.post(f"{API}/records", json={**SONG, "id_number": wrong},
                           headers=as_user["county_doctor"])

    assert response.status_code == 422
    body = response.json()
    assert "校验码" in body["message_zh"] and "check digit" in body["message_en"]
    assert session.scalar(select(func.count()).select_from(PatientRecord)) == 0
    assert session.scalar(select(func.count()).select_from(Person)) == 0


def test_a_patient_number_is_registered_once_per_institution(
    client: TestClient, network: Network, as_user: dict[str, dict[str, str]]
) -> None:
    register(client, as_user["county_doctor"], **SONG)

    twice = client.post(f"{API}/records", json={**SONG, "name": "宋秀"},
                        headers=as_user["county_doctor"])
    elsewhere = client.post(f"{API}/records", json={**SONG, "institution_id": network.beijing.id},
                            headers=as_user["county_doctor"])

    assert twice.status_code == 409 and twice.json()["code"] == "patient_record_exists"
    assert elsewhere.status_code == 403  # a clinician registers at their own hospital only


def test_analysts_see_no_patients(
    client: TestClient, as_user: dict[str, dict[str, str]]
) -> None:
    register(client, as_user["county_doctor"], **SONG)

    assert client.get(API, headers=as_user["analyst"]).status_code == 403
    assert client.get(API).status_code == 401


def test_update_changes_the_record_and_relinks_a_new_identity(
    client: TestClient, as_user: dict[str, dict[str, str]]
) -> None:
    doctor = as_user["county_doctor"]
    song = register(client, doctor, **SONG)
    wang = register(client, doctor, local_id="MZ9", name="王芳", phone="13900000001")
    url = f"{API}/records/{wang['record']['id']}"

    renamed = client.patch(url, json={"address": "怀来县存瑞镇"}, headers=doctor)
    relinked = client.patch(url, json={"id_number": SONG_ID, "name": "宋秀兰"}, headers=doctor)

    assert renamed.status_code == 200 and renamed.json()["record"]["address"] == "怀来县存瑞镇"
    assert relinked.status_code == 200, relinked.text
    assert relinked.json()["person_id"] == song["person_id"]
    assert relinked.json()["outcome"] == "resident_id"
    assert client.patch(url, json={"name": "x"}, headers=as_user["bj_doctor"]).status_code == 404


def test_a_new_address_or_phone_does_not_undo_a_merge_a_person_decided(
    client: TestClient, as_user: dict[str, dict[str, str]]
) -> None:
    # The model would never link these two records; a steward merged them anyway (she was
    # registered under her maiden name, say). A later change of address or phone number on
    # either record says nothing new about who she is, so the merge stands.
    doctor, root = as_user["county_doctor"], as_user["root"]
    song = register(client, doctor, **SONG)
    maiden = register(client, doctor, local_id="MZ7", name="李秀兰", sex="female",
                      birth_date="1975-01-02")
    merged = client.post(f"{API}/merges", headers=root, json={
        "survivor_id": song["person_id"], "retired_id": maiden["person_id"],
        "reason": "患者本人确认：婚前姓名建档"})
    assert merged.status_code == 201, merged.text

    for record, change in ((song["record"]["id"], {"address": "怀来县存瑞镇"}),
                           (maiden["record"]["id"], {"phone": "13900002222"})):
        answer = client.patch(f"{API}/records/{record}", json=change, headers=doctor)
        assert answer.status_code == 200, answer.text
        assert answer.json()["person_id"] == song["person_id"]
    person = client.get(f"{API}/{song['person_id']}", headers=doctor).json()
    assert sorted(r["local_id"] for r in person["records"]) == ["MZ000123", "MZ7"]


def test_every_read_of_a_patient_is_audited(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    doctor = as_user["county_doctor"]
    made = register(client, doctor, **SONG)
    person_id = made["person_id"]

    client.get(f"{API}/{person_id}", headers=doctor)
    client.get(f"{API}/records/{made['record']['id']}", headers=doctor)
    client.get(f"{API}/{person_id}/history", headers=doctor)
    client.get(API, params={"q": "宋秀兰"}, headers=doctor)

    assert audited(session, "patient.read", person_id) == 1
    assert audited(session, "patient.record.read", person_id) == 1
    assert audited(session, "patient.history.read", person_id) == 1
    search = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.search")).one()
    assert search.actor == "county_doctor" and f"[{person_id}]" in search.detail
    assert audited(session, "patient_record.create") == 1  # the write, too


def test_hospital_admin_decides_a_possible_duplicate_in_the_queue(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    song = register(client, as_user["county_doctor"], **SONG)
    again = register(client, as_user["county_doctor"], local_id="ZY-77", **SONG_NEW_PHONE)
    assert again["outcome"] == "new_person" and len(again["review_ids"]) == 1
    review_id = again["review_ids"][0]
    admin = as_user["county_admin"]

    queue = client.get(f"{API}/reviews", headers=admin).json()
    item = client.get(f"{API}/reviews/{review_id}", headers=admin)

    assert [row["id"] for row in queue["items"]] == [review_id]
    assert 0.3 <= queue["items"][0]["match_probability"] < 0.95
    assert item.status_code == 200
    detail = item.json()
    assert detail["record"]["local_id"] == "ZY-77"
    assert detail["candidate_record"]["phone_masked"] == "138****5678"
    assert SONG_ID not in item.text
    assert {e["comparison"] for e in detail["evidence"]} >= {"name", "phone"}
    assert audited(session, "patient.review.read") == 2  # one per patient shown
    # another hospital, a clinician: nothing to see
    assert client.get(f"{API}/reviews", headers=as_user["bj_admin"]).json()["total"] == 0
    assert client.get(f"{API}/reviews/{review_id}", headers=as_user["bj_admin"]).status_code == 404
    assert client.get(f"{API}/reviews", headers=as_user["county_doctor"]).status_code == 403

    decided = client.post(f"{API}/reviews/{review_id}/decision", headers=admin,
                          json={"same_person": True, "reason": "电话回访：患者已换号"})

    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "merged" and decided.json()["decided_by"] == "county_admin"
    person = client.get(f"{API}/{song['person_id']}", headers=admin).json()
    assert sorted(r["local_id"] for r in person["records"]) == ["MZ000123", "ZY-77"]
    assert client.get(f"{API}/reviews", headers=admin).json()["total"] == 0
    closed = client.post(f"{API}/reviews/{review_id}/decision", headers=admin,
                         json={"same_person": False})
    assert closed.status_code == 409


def test_cross_hospital_duplicates_go_to_the_platform_admin(
    client: TestClient, as_user: dict[str, dict[str, str]]
) -> None:
    register(client, as_user["county_doctor"], **SONG)
    again = register(client, as_user["bj_doctor"], local_id="A-90", **SONG_NEW_PHONE)
    review_id = again["review_ids"][0]

    # Neither hospital stewards both people, so neither can merge them: the item is the
    # platform administrator's, and the county never sees Beijing's record through it.
    for admin in ("county_admin", "bj_admin"):
        assert client.get(f"{API}/reviews", headers=as_user[admin]).json()["total"] == 0
    decided = client.post(f"{API}/reviews/{review_id}/decision", headers=as_user["root"],
                          json={"same_person": False, "reason": "核对身份证：同名同日出生的另一人"})

    assert decided.status_code == 200 and decided.json()["status"] == "distinct"


def test_steward_detaches_a_wrongly_linked_record(
    client: TestClient, session: Session, as_user: dict[str, dict[str, str]]
) -> None:
    doctor = as_user["county_doctor"]
    song = register(client, doctor, **SONG)
    # Same name, birth date and phone: linked at once, but it is her daughter's record.
    linked = register(client, doctor, local_id="MZ7", name="宋秀兰", sex="female",
                      birth_date=BORN.isoformat(), phone="13812345678")
    assert linked["person_id"] == song["person_id"]
    url = f"{API}/records/{linked['record']['id']}/detach"

    assert client.post(url, json={"reason": "x"}, headers=doctor).status_code == 403
    detached = client.post(url, json={"reason": "女儿的就诊卡"}, headers=as_user["county_admin"])

    assert detached.status_code == 200, detached.text
    assert detached.json()["kind"] == "detached"
    assert detached.json()["other_person_id"] == song["person_id"]
    new_person = detached.json()["person_id"]
    assert new_person != song["person_id"]
    session.expire_all()
    record = session.get(PatientRecord, linked["record"]["id"])
    assert record is not None and record.person_id == new_person


def test_a_share_follows_the_patient_through_a_merge_and_is_not_passed_on(
    client: TestClient, session: Session, network: Network,
    as_user: dict[str, dict[str, str]],
) -> None:
    third = make_institution(session, code="BDHOSP", name="保定市第一医院", region_code="130602")
    make_user(session, role=Role.CLINICIAN, institution=third, username="bd_doctor")
    session.commit()
    shared = register(client, as_user["county_doctor"], **SONG)
    other = register(client, as_user["county_doctor"], local_id="MZ000999",
                     **SONG_NEW_PHONE)
    assert other["person_id"] != shared["person_id"]
    granted = client.post(f"{API}/{shared['person_id']}/shares",
                          json={"institution_id": network.beijing.id, "reason": "referral"},
                          headers=as_user["county_doctor"])
    assert granted.status_code == 201
    # Beijing, seeing the patient only through the share, may not pass it on.
    passed_on = client.post(f"{API}/{shared['person_id']}/shares",
                            json={"institution_id": third.id},
                            headers=as_user["bj_doctor"])
    assert passed_on.status_code == 403
    assert "registered" in passed_on.json()["message_en"]

    merged = client.post(f"{API}/merges", headers=as_user["root"], json={
        "survivor_id": other["person_id"], "retired_id": shared["person_id"],
        "reason": "same woman, new phone"})
    assert merged.status_code == 201, merged.text
    # The share granted for the retired person now reaches the survivor, in search too.
    found = client.get(API, params={"q": "宋秀兰"}, headers=as_user["bj_doctor"]).json()
    assert [p["id"] for p in found["items"]] == [other["person_id"]]
    assert client.get(f"{API}/{other['person_id']}", headers=as_user["bj_doctor"]).status_code \
        == 200
    assert client.get(f"{API}/{other['person_id']}", headers=as_user["bd_doctor"]).status_code \
        == 404
