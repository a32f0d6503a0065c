"""The issue's "done when", in a real browser: a county doctor refers a chest-pain patient
to PKU People's Hospital; a Beijing doctor accepts, admits, discharges and sends the
patient back down to the Huailai campus; the county doctor sees the whole timeline and the
discharge summary. The patient, on her phone, sees both referrals in plain words."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Places:
    """Ids the form's options carry."""

    pkuph_id: int
    cardiology_id: int
    township_id: int  # a health centre with no chest-pain centre


@pytest.fixture(scope="module")
def places(demo_network: DemoNetwork) -> Places:
    """The receiving hospital, its cardiology department, and a place it must not offer."""
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            pkuph = registry.institution_by_code_or_raise(session, code="PKUPH")
            cardiology = registry.department_by_code_or_raise(
                session, institution_id=pkuph.id, code="CARD")
            township = registry.institution_by_code_or_raise(session, code="HL-THC-SHACHENG")
            return Places(pkuph.id, cardiology.id, township.id)
    finally:
        engine.dispose()


def test_a_chest_pain_patient_goes_up_to_beijing_and_comes_back_down(
    page: Page, browser: Browser, live_server: str, demo_network: DemoNetwork, places: Places,
    problems: BrowserProblems, screenshot_dir: Path,
) -> None:
    password = demo_network.password
    sign_in_as(page, live_server, "huailai.doctor", password, "/referrals/new")
    page.get_by_label("查找患者").fill("宋桂兰")
    page.get_by_role("button", name="搜索患者").click()
    page.get_by_label(re.compile("宋桂兰 · 1962-03-14")).check()
    page.get_by_label("转诊类型").select_option("inpatient")
    page.get_by_label("紧急程度").select_option("emergency")
    page.get_by_label("绿色通道").select_option("chest_pain")
    # Only chest-pain centres are offered now (requests queued by hx-sync, so the last choice wins).
    expect(page.locator(f"#r-target option[value='{places.township_id}']")).to_have_count(
        0, timeout=20_000)
    page.locator("#r-target").select_option(str(places.pkuph_id))
    expect(page.locator(f"#r-department option[value='{places.cardiology_id}']")).to_have_count(
        1, timeout=20_000)
    page.locator("#r-department").select_option(str(places.cardiology_id))
    page.get_by_label("诊断编码（ICD-10）").fill("I21.9")
    page.get_by_label("转诊原因").fill("急性 ST 段抬高型心肌梗死，县医院无急诊 PCI 条件")
    page.get_by_label("病情摘要").fill("胸痛 2 小时，心电图 V1-V4 ST 段抬高")
    page.get_by_label("患者（或监护人）同意转诊").check()
    page.screenshot(path=str(screenshot_dir / "referral-form.png"), full_page=True)
    page.get_by_role("button", name="发送转诊").click()

    expect(page).to_have_url(re.compile(r"/referrals/\d+$"))
    referral_url = page.url
    referral_id = referral_url.rsplit("/", 1)[1]
    expect(page.locator("#status")).to_have_text("待接收")
    expect(page.locator("#request")).to_contain_text("急性心肌梗死")  # filled from the code
    expect(page.locator("#request")).to_contain_text("北京大学人民医院")

    beijing = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    beijing.set_default_timeout(10_000)
    doctor = beijing.new_page()
    doctor.on("console", problems.on_console)
    doctor.on("pageerror", problems.on_page_error)
    sign_in_as(doctor, live_server, "pkuph.doctor", password, "/referrals?box=incoming")
    doctor.goto(live_server + "/referrals?box=incoming&overdue=1")  # the demo's late answers
    expect(doctor.locator("tr.overdue").first).to_contain_text("已超时")
    doctor.goto(live_server + "/referrals?box=incoming")
    doctor.get_by_role("link", name=f"转诊单 #{referral_id}", exact=True).click()
    doctor.get_by_role("button", name="同意接收").click()
    expect(doctor.locator("#status")).to_have_text("已同意")
    doctor.get_by_role("button", name="患者已到院/入院").click()
    expect(doctor.locator("#status")).to_have_text("已到院")
    doctor.get_by_label("出院小结").fill("急诊 PCI（前降支支架 1 枚）术后恢复良好，准予出院。")
    doctor.get_by_label("随访计划").fill("双联抗血小板 12 个月；1 个月后回怀来院区复查心脏超声")
    doctor.get_by_role("button", name="出院并回传小结").click()
    expect(doctor.locator("#status")).to_have_text("已完成")
    doctor.get_by_role("button", name="下转回基层").click()
    expect(doctor).to_have_url(re.compile(r"/referrals/\d+$"))
    expect(doctor.locator("#status")).to_have_text("待接收")
    expect(doctor.locator(".subtitle")).to_contain_text("下转")
    expect(doctor.locator("#request")).to_contain_text("怀来院区")
    expect(doctor.locator("#request")).to_contain_text("双联抗血小板")
    down_url = doctor.url
    beijing.close()

    page.goto(referral_url)
    timeline = page.locator("#timeline")
    for step in ("待接收", "已同意", "已到院", "已完成"):
        expect(timeline).to_contain_text(step)
    expect(page.locator("#discharge-summary")).to_contain_text("急诊 PCI")
    page.screenshot(path=str(screenshot_dir / "referral-closed-loop.png"), full_page=True)
    page.goto(live_server + "/referrals?box=incoming")
    down_id = down_url.rsplit("/", 1)[1]
    expect(page.get_by_role("link", name=f"转诊单 #{down_id}", exact=True)).to_be_visible()

    # Song herself, signed in on her phone, sees where each referral stands.
    phone_context = browser.new_context(viewport=PHONE, locale="zh-CN")
    phone_context.set_default_timeout(10_000)
    phone = phone_context.new_page()
    phone.on("console", problems.on_console)
    phone.on("pageerror", problems.on_page_error)
    sign_in_as(phone, live_server, "huailai.patient", password, "/referrals/mine")
    expect(phone.locator(f"#referral-{referral_id}")).to_contain_text("诊治已结束")
    expect(phone.locator(f"#referral-{down_id}")).to_contain_text("正在等待")
    expect(phone.locator(f"#referral-{down_id}")).to_contain_text("本人居民身份证")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(screenshot_dir / "referral-patient-phone.png"), full_page=True)
    phone_context.close()
    assert problems.messages == []
