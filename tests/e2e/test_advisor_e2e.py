"""The advisor's "Done when", in a real browser: a doctor of a Huailai township health centre
asks, inside the referral form, where a Huailai resident should go for cardiology; sees the
ranked, explained options with costs computed by the settlement engine and the earliest
slots; uses the Huailai campus option in one click and sends the referral; the campus
accepts and books the slot the advisor chose. The resident, on her phone, compares the
places in her booking flow."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import demo_settings
from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from tests.factories import register, resident_id_number
from tests.settlement.setup import post_json
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.db import make_engine, make_sessionmaker, utcnow
from yilian.fhir.dates import CHINA_STANDARD_TIME
from yilian.registry import service as registry
from yilian.scheduling.models import Slot
from yilian.settlement import service as settlements
from yilian.settlement.engine import BillLine

pytestmark = pytest.mark.e2e
TOWNSHIP_DOCTOR = "shacheng.doctor"
PATIENT_NAME = "赵德福"


@dataclass(frozen=True)
class Township:
    """The township doctor's patient and the places the test checks."""

    person_id: int
    campus_id: int
    campus_cardiology_id: int
    beijing_id: int


@pytest.fixture(scope="module")
def township(demo_network: DemoNetwork) -> Township:
    """A clinician at the Shacheng health centre and a Huailai resident registered there."""
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            shacheng = registry.institution_by_code_or_raise(session, code="HL-THC-SHACHENG")
            campus = registry.institution_by_code_or_raise(session, code="PKUPH-HL")
            beijing = registry.institution_by_code_or_raise(session, code="PKUPH")
            users.create(session, username=TOWNSHIP_DOCTOR, password=demo_network.password,
                         role=Role.CLINICIAN, institution_code=shacheng.code,
                         display_name="沙城镇卫生院全科医生")
            made = register(session, demo_settings(demo_network.url), shacheng, "SC-ADV-0001",
                            name=PATIENT_NAME, sex="male", birth_date="1956-09-21",
                            id_number=resident_id_number("130730", date(1956, 9, 21), 51,
                                                         male=True),
                            address="河北省张家口市怀来县沙城镇", phone="13931309021",
                            insured_region_code="130730", insurance_scheme="resident")
            cardiology = registry.department_by_code_or_raise(
                session, institution_id=campus.id, code="CARD")
            session.commit()
            return Township(made.person.id, campus.id, cardiology.id, beijing.id)
    finally:
        engine.dispose()


def _money(text: str) -> Decimal:
    return Decimal(text.strip().removeprefix("¥").replace(",", ""))


def _engine_out_of_pocket(url: str, person_id: int, option: dict[str, object]) -> Decimal:
    """The settlement engine's own estimate of the bill the advisor used for an option."""
    cost = option["cost"]
    assert isinstance(cost, dict)
    lines = [BillLine(line["code"], Decimal(line["qty"]), Decimal(line["unit_price"]))
             for line in cost["lines"]]
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            slip = settlements.estimate(
                session, person_id=person_id, institution_id=int(str(option["institution_id"])),
                lines=lines, on_date=utcnow().astimezone(CHINA_STANDARD_TIME).date())
            return slip.psn_part_amt
    finally:
        engine.dispose()


def _token(base: str, username: str, password: str) -> str:
    """A bearer token for the API, signed in over a fresh loopback connection."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", "/api/v1/auth/token",
                           urlencode({"username": username, "password": password}),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        return str(json.loads(connection.getresponse().read())["access_token"])
    finally:
        connection.close()


def test_a_township_doctor_refers_to_the_place_the_advisor_ranks_first(
    page: Page, browser: Browser, live_server: str, demo_network: DemoNetwork,
    township: Township, problems: BrowserProblems, screenshot_dir: Path,
) -> None:
    password = demo_network.password
    sign_in_as(page, live_server, TOWNSHIP_DOCTOR, password, "/referrals/new")
    page.get_by_label("查找患者").fill(PATIENT_NAME)
    page.get_by_role("button", name="搜索患者").click()
    page.get_by_label(re.compile(f"{PATIENT_NAME} · 1956-09-21")).check()
    page.get_by_label("转诊类型").select_option("inpatient")
    page.get_by_label("诊断编码（ICD-10）").fill("I25.1")
    page.locator("#a-specialty").select_option("cardiology")
    page.locator("#advisor-ask").click()

    options = page.locator("#advisor-options .advisor-option")
    expect(options.first).to_be_visible(timeout=20_000)
    expect(page.locator("#advisor-explanation")).to_contain_text("按加权得分排序")
    campus = page.locator(f"#option-{township.campus_id}")
    beijing = page.locator(f"#option-{township.beijing_id}")
    # The Huailai campus comes first, above PKU People's in Beijing, and is the cheapest.
    expect(options.first).to_have_attribute("id", f"option-{township.campus_id}")
    expect(campus.locator(".flag-cheapest")).to_be_visible()
    expect(campus.locator(".option-slot")).not_to_have_text("—")
    expect(page.locator(".flag-soonest").first).to_be_visible()
    campus_rank = int(campus.get_attribute("data-rank") or 0)
    beijing_rank = int(beijing.get_attribute("data-rank") or 0)
    assert campus_rank < beijing_rank
    # Every factor with its weight; the figures are the settlement engine's.
    campus.locator(".option-factors summary").click()
    expect(campus.locator("tr.factor-cost")).to_contain_text("40%")
    status, answer = post_json(live_server, "/api/v1/advisor/rank", {
        "person_id": township.person_id, "specialty": "cardiology", "kind": "inpatient",
        "diagnosis_code": "I25.1", "exclude_institution_ids": []},
        {"Authorization": f"Bearer {_token(live_server, TOWNSHIP_DOCTOR, password)}"})
    assert status == 200, answer
    by_id = {option["institution_id"]: option for option in answer["options"]}
    campus_pays = _engine_out_of_pocket(demo_network.url, township.person_id,
                                        by_id[township.campus_id])
    beijing_pays = _engine_out_of_pocket(demo_network.url, township.person_id,
                                         by_id[township.beijing_id])
    assert _money(campus.locator(".option-cost").inner_text()) == campus_pays
    assert _money(beijing.locator(".option-cost").inner_text()) == beijing_pays
    assert _money(beijing.locator(".option-difference").inner_text()) == (
        beijing_pays - campus_pays)
    page.screenshot(path=str(screenshot_dir / "advisor-referral-panel.png"), full_page=True)

    # One click puts the option into the referral: hospital, department, expert and slot.
    campus.get_by_role("button", name="采用此方案").click()
    expect(page.locator("#r-target")).to_have_value(str(township.campus_id))
    expect(page.locator("#r-department")).to_have_value(str(township.campus_cardiology_id))
    expect(page.locator("#advisor-chosen")).to_contain_text("怀来院区")
    slot_id = page.locator("input[name=advisor_slot_id]").get_attribute("value")
    assert slot_id and slot_id.isdigit()
    page.get_by_label("转诊原因").fill("冠心病，胸闷反复发作，需专科评估与住院治疗")
    page.get_by_label("患者（或监护人）同意转诊").check()
    page.get_by_role("button", name="发送转诊").click()
    expect(page).to_have_url(re.compile(r"/referrals/\d+$"))
    referral_url = page.url
    expect(page.locator("#request")).to_contain_text("怀来院区")
    expect(page.locator("#timeline")).to_contain_text(f"号源 #{slot_id}")

    # The campus accepts and books the slot the advisor chose.
    campus_context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    campus_context.set_default_timeout(10_000)
    doctor = campus_context.new_page()
    doctor.on("console", problems.on_console)
    doctor.on("pageerror", problems.on_page_error)
    sign_in_as(doctor, live_server, "huailai.doctor", password,
               referral_url.removeprefix(live_server))
    doctor.get_by_role("button", name="同意接收").click()
    expect(doctor.locator("#status")).to_have_text("已同意")
    doctor.locator("#b-slot").select_option(slot_id)
    doctor.get_by_role("button", name="预约/安排床位").click()
    expect(doctor.locator("#status")).to_have_text("已预约")
    campus_context.close()
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            booked = session.get(Slot, int(slot_id))
            assert booked is not None and booked.status.value == "busy"
    finally:
        engine.dispose()

    # Song, on her phone, compares the places for a cardiology visit in her booking flow.
    phone_context = browser.new_context(viewport=PHONE, locale="zh-CN")
    phone_context.set_default_timeout(10_000)
    phone = phone_context.new_page()
    phone.on("console", problems.on_console)
    phone.on("pageerror", problems.on_page_error)
    sign_in_as(phone, live_server, "huailai.patient", password, "/scheduling/book")
    phone.locator("#advisor-link").click()
    phone.locator("#a-specialty").select_option("cardiology")
    phone.get_by_role("button", name="显示选项").click()
    expect(phone.locator(".advisor-option").first).to_be_visible()
    expect(phone.locator(".advisor-option").first).to_contain_text("怀来院区")
    expect(phone.get_by_role("button", name="预约此号源").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(screenshot_dir / "advisor-patient-phone.png"), full_page=True)
    phone_context.close()
    assert problems.messages == [], problems.messages
