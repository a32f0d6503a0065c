"""Patient pages: search, register, a person's records and history, and the review queue."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import make_institution, make_user, register, resident_id_number
from tests.web.conftest import BROWSER_ACCEPT, csrf_of, sign_in
from tests.web.test_pages import inline_code
from yilian.audit.models import AuditEvent, AuditOutcome
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.patients import labels, merging
from yilian.patients.models import LinkReview, PatientRecord, ReviewStatus
from yilian.registry.models import Institution

BORN = date(1968, 3, 14)
SONG_ID = resident_id_number("130730", BORN, 123, male=False)
SONG = {"name": "宋秀兰", "sex": "female", "birth_date": BORN, "id_number": SONG_ID,
        "phone": "13812345678", "address": "河北省怀来县沙城镇东大街12号"}
# 宋秀兰 born the same day with another phone: the index is unsure, a person decides.
SONG_NEW_PHONE = {"name": "宋秀兰", "sex": "female", "birth_date": BORN, "phone": "13900001111"}


@dataclass
class Network:
    """A county hospital and a Beijing hospital, with their staff."""

    county: Institution
    beijing: Institution


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for pages as a browser does."""
    with TestClient(app, headers={"Accept": BROWSER_ACCEPT}) as test_client:
        yield test_client


@pytest.fixture
def network(session: Session) -> Network:
    county = make_institution(session, code="HLCOUNTY", name="怀来县医院")
    beijing = make_institution(session, code="PKUPH", name="北京大学人民医院",
                               region_code="110102", level=3)
    make_user(session, role=Role.CLINICIAN, institution=county, username="doctor")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=county, username="hladmin")
    make_user(session, role=Role.CLINICIAN, institution=beijing, username="bjdoctor")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=beijing, username="bjadmin")
    make_user(session, role=Role.PLATFORM_ADMIN, username="admin")
    make_user(session, role=Role.COMMISSION_ANALYST, username="analyst")
    session.commit()
    return Network(county, beijing)


def song_and_a_possible_duplicate(
    session: Session, settings: Settings, network: Network
) -> tuple[int, LinkReview]:
    """宋秀兰 at the county hospital and, queued for review, a 宋秀兰 with another phone."""
    song = register(session, settings, network.county, "MZ000123", **SONG)
    again = register(session, settings, network.county, "ZY-77", **SONG_NEW_PHONE)
    session.commit()
    assert len(again.reviews) == 1
    return song.person.id, again.reviews[0]


def test_clinician_finds_own_patients_masked_and_has_no_review_queue(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    made = register(session, settings, network.county, "MZ000123",
                    **{**SONG, "birth_date": date(1968, 3, 15)})
    session.commit()
    sign_in(client, "doctor")

    listing = client.get("/patients")
    person = client.get(f"/patients/{made.person.id}")

    assert listing.status_code == 200
    assert f'href="/patients/{made.person.id}"' in listing.text
    assert SONG_ID[:6] + "********" + SONG_ID[-4:] in listing.text
    assert 'href="/patients"' in listing.text and "患者主索引" in listing.text
    assert 'href="/patients/new"' in listing.text  # a clinician registers patients
    assert 'href="/patients/reviews"' not in listing.text  # but reviews no duplicates
    assert person.status_code == 200
    assert "138****5678" in person.text and "怀来县医院" in person.text
    assert "出生日期不符" in person.text and "请核对证件" in person.text  # the flag, explained
    assert "新建患者" in person.text and "关联历史" in person.text
    assert "移出" not in person.text  # no steward buttons for a clinician
    for page in (listing, person):
        assert SONG_ID not in page.text and "13812345678" not in page.text
    assert client.get("/patients/reviews").status_code == 403


def test_search_is_posted_so_no_id_number_lands_in_a_url(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    made = register(session, settings, network.county, "MZ000123", **SONG)
    session.commit()
    sign_in(client, "doctor")
    page = client.get("/patients")
    assert re.search(r'<form id="search"[^>]*method="post"', page.text)

    found = client.post("/patients", data={"id_number": SONG_ID, "csrf_token": csrf_of(page.text)})
    fragment = client.post(
        "/patients", data={"q": "Song Xiulan", "csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    nobody = client.post("/patients", data={"phone": "13900000000",
                                            "csrf_token": csrf_of(page.text)})

    assert found.status_code == 200 and f'href="/patients/{made.person.id}"' in found.text
    assert "共 1 名患者符合条件" in found.text
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert f'href="/patients/{made.person.id}"' in fragment.text
    assert "没有符合条件的患者" in nobody.text
    assert client.post("/patients", data={"id_number": SONG_ID}).status_code == 403  # no CSRF


def test_other_hospitals_and_analysts_are_refused(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    made = register(session, settings, network.county, "MZ000123", **SONG)
    session.commit()

    sign_in(client, "bjdoctor")
    assert client.get(f"/patients/{made.person.id}").status_code == 404
    assert f'/patients/{made.person.id}"' not in client.get("/patients").text
    sign_in(client, "analyst")
    assert client.get("/patients").status_code == 403
    assert 'href="/patients"' not in client.get("/").text  # no menu entry either


def test_register_form_links_the_patient_and_refuses_a_bad_id(
    client: TestClient, session: Session, network: Network
) -> None:
    sign_in(client, "doctor")
    form = client.get("/patients/new")
    assert form.status_code == 200 and "怀来县医院" in form.text
    fields = {"local_id": "MZ000123", "name": "宋秀兰", "sex": "female",
              "birth_date": BORN.isoformat(), "phone": "13812345678",
              "csrf_token": csrf_of(form.text)}
    wrong = SONG_ID[:-1] + ("0" if SONG_ID[-1] != "0" else "1")

    refused = client.post("/patients/new", data={**fields, "id_number": wrong})
    english = client.post("/patients/new?lang=en", data={**fields, "id_number": wrong})
    client.cookies.delete("yilian_lang")

    assert refused.status_code == 422
    assert "校验码" in refused.text and 'aria-invalid="true"' in refused.text
    assert f'value="{wrong}"' in refused.text  # what the clerk typed is kept
    assert "check digit" in english.text
    assert session.scalar(select(func.count()).select_from(PatientRecord)) == 0
    failed = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "patient.register", AuditEvent.outcome == AuditOutcome.FAILED
    )).all()
    assert [event.actor for event in failed] == ["doctor", "doctor"]

    saved = client.post("/patients/new", data={**fields, "id_number": SONG_ID},
                        follow_redirects=False)

    assert saved.status_code == 303
    person = client.get(saved.headers["location"])
    assert "患者已登记" in person.text and "MZ000123" in person.text


def test_hospital_admin_merges_through_the_review_page(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    song_id, review = song_and_a_possible_duplicate(session, settings, network)
    sign_in(client, "hladmin")

    queue = client.get("/patients/reviews")
    assert queue.status_code == 200 and f'href="/patients/reviews/{review.id}"' in queue.text
    page = client.get(f"/patients/reviews/{review.id}")
    assert page.status_code == 200
    assert "MZ000123" in page.text and "ZY-77" in page.text and "138****5678" in page.text
    assert 'class="evidence-for"' in page.text and 'class="evidence-against"' in page.text
    assert "手机号" in page.text and re.search(r"匹配概率 \d+\.\d%", page.text)
    assert "同一人，合并" in page.text and "不是同一人" in page.text

    merged = client.post(
        f"/patients/reviews/{review.id}/decision",
        data={"same_person": "true", "reason": "核对身份证", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )

    assert merged.status_code == 303
    assert merged.headers["location"] == f"/patients/{song_id}"
    person = client.get(merged.headers["location"])
    assert "已合并：两条记录现属于同一患者" in person.text
    assert "MZ000123" in person.text and "ZY-77" in person.text
    assert "撤销此次合并" in person.text  # the steward may undo it from here
    session.expire_all()
    decided = session.get(LinkReview, review.id)
    assert decided is not None and decided.status is ReviewStatus.MERGED


def test_different_people_leave_the_queue(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    _, review = song_and_a_possible_duplicate(session, settings, network)
    sign_in(client, "hladmin")
    page = client.get(f"/patients/reviews/{review.id}")

    response = client.post(
        f"/patients/reviews/{review.id}/decision",
        data={"same_person": "false", "reason": "同名同日", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )

    assert response.headers["location"] == "/patients/reviews"
    queue = client.get("/patients/reviews")
    assert "已记录为不同的人" in queue.text and "没有待审核的项目" in queue.text


def test_decision_without_csrf_token_is_refused(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    _, review = song_and_a_possible_duplicate(session, settings, network)
    sign_in(client, "hladmin")

    response = client.post(f"/patients/reviews/{review.id}/decision",
                           data={"same_person": "true"})

    assert response.status_code == 403 and "表单已失效" in response.text
    session.expire_all()
    still = session.get(LinkReview, review.id)
    assert still is not None and still.status is ReviewStatus.OPEN


def test_review_pages_are_for_stewards_of_both_patients(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    _, review = song_and_a_possible_duplicate(session, settings, network)

    sign_in(client, "doctor")
    assert client.get(f"/patients/reviews/{review.id}").status_code == 403
    sign_in(client, "bjadmin")
    assert client.get(f"/patients/reviews/{review.id}").status_code == 404
    assert f"/patients/reviews/{review.id}" not in client.get("/patients/reviews").text
    sign_in(client, "admin")
    assert client.get(f"/patients/reviews/{review.id}").status_code == 200


def test_steward_undoes_a_merge_and_detaches_a_record_from_the_person_page(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    song = register(session, settings, network.county, "MZ000123", **SONG)
    other = register(session, settings, network.beijing, "A-88", name="Song Xiulan",
                     phone="13912345678")
    event = merging.merge_persons(session, settings, None, survivor_id=song.person.id,
                                  retired_id=other.person.id, reason="患者本人确认")
    session.commit()
    sign_in(client, "admin")
    page = client.get(f"/patients/{song.person.id}")
    assert f'action="/patients/merges/{event.id}/undo"' in page.text
    assert f'action="/patients/records/{other.record.id}/detach"' in page.text
    # the retired person's page leads to the one that holds the records now
    moved_on = client.get(f"/patients/{other.person.id}", follow_redirects=False)
    assert moved_on.headers["location"] == f"/patients/{song.person.id}"

    undone = client.post(f"/patients/merges/{event.id}/undo",
                         data={"reason": "电话属于其女儿", "csrf_token": csrf_of(page.text)},
                         follow_redirects=False)

    assert undone.status_code == 303
    after = client.get(undone.headers["location"])
    assert "已撤销合并" in after.text and "A-88" not in after.text and "已撤销" in after.text
    session.expire_all()
    record = session.get(PatientRecord, other.record.id)
    assert record is not None and record.person_id == other.person.id

    linked = register(session, settings, network.county, "MZ7", name="宋秀兰", sex="female",
                      birth_date=BORN, phone="13812345678")
    session.commit()
    assert linked.person.id == song.person.id
    detached = client.post(f"/patients/records/{linked.record.id}/detach",
                           data={"reason": "女儿的就诊卡", "csrf_token": csrf_of(page.text)},
                           follow_redirects=False)
    assert detached.status_code == 303
    assert "已移出" in client.get(detached.headers["location"]).text
    session.expire_all()
    moved = session.get(PatientRecord, linked.record.id)
    assert moved is not None and moved.person_id != song.person.id


def test_patient_pages_carry_no_inline_code_and_switch_to_english(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    song_id, review = song_and_a_possible_duplicate(session, settings, network)
    sign_in(client, "hladmin")
    urls = ["/patients", "/patients/new", f"/patients/{song_id}", "/patients/reviews",
            f"/patients/reviews/{review.id}"]

    for url in urls:
        assert inline_code(client.get(url).text) == [], url
    english = client.get(f"/patients/reviews/{review.id}?lang=en").text
    assert "Same person — merge" in english and "Different people" in english
    assert "Phone" in english and "Evidence, field by field" in english


@pytest.mark.parametrize("names", labels.ALL_LABELS)
def test_every_patient_enum_member_has_both_names(
    names: dict[object, tuple[str, str]]
) -> None:
    enum_type = type(next(iter(names)))
    assert set(names) == set(enum_type)  # type: ignore[call-overload]
    for member in names:
        zh, en = names[member]
        assert zh and en
        assert labels.name_of(member, "zh") == zh  # type: ignore[arg-type]
        assert labels.name_of(member, "en") == en  # type: ignore[arg-type]


def test_a_patient_number_the_hospital_merged_away_is_shown_retired(
    client: TestClient, session: Session, settings: Settings, network: Network
) -> None:
    song, review = song_and_a_possible_duplicate(session, settings, network)
    merging.decide_review(session, settings, None, review=review, same_person=True,
                          reason="HIS merge")
    kept = session.scalar(select(PatientRecord).where(PatientRecord.local_id == "MZ000123"))
    prior = session.scalar(select(PatientRecord).where(PatientRecord.local_id == "ZY-77"))
    assert kept is not None and prior is not None
    merging.retire_patient_number(prior=prior, survivor=kept)
    session.commit()
    sign_in(client, "doctor")
    page = client.get(f"/patients/{song}")
    assert "已停用的患者号" in page.text
    assert "本机构已将此患者号合并至 MZ000123" in page.text
