"""The issue's "done when", in a real browser: a Huailai county clinician requests an MDT
on a complex case; the PKU People's Hospital coordinator assigns three experts and
schedules it at a time all of them are free; the experts start the session and sign the
report; the county clinician reads it and, with one action, starts the referral it
recommends. The coordinator and the experts are this test's own (the demo has none)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import DESKTOP, BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from yilian.audit import service as audit
from yilian.auth import service as users
from yilian.auth.models import Role
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry
from yilian.registry.models import PractitionerTitle
from yilian.registry.schemas import PractitionerCreate

pytestmark = pytest.mark.e2e

EXPERTS = (("PKUPH-MDT-1", "mdt.cardiology", "冯心内", "cardiology"),
           ("PKUPH-MDT-2", "mdt.surgery", "韩心外", "cardiac_surgery"),
           ("PKUPH-MDT-3", "mdt.imaging", "邓影像", "radiology"))
COORDINATOR = "pkuph.coordinator"


@dataclass(frozen=True)
class Staff:
    """What the test added at PKU People's Hospital."""

    pkuph_id: int


@pytest.fixture(scope="module")
def staff(demo_network: DemoNetwork) -> Staff:
    """A coordinator (the hospital's administrator) and three experts with accounts."""
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            audit.bind(session, audit.AuditContext(actor="e2e"))
            pkuph = registry.institution_by_code_or_raise(session, code="PKUPH")
            users.create(session, username=COORDINATOR, password=demo_network.password,
                         role=Role.HOSPITAL_ADMIN, institution_code="PKUPH",
                         display_name="北京大学人民医院远程医学中心")
            for code, username, name, specialty in EXPERTS:
                registry.create_practitioner(session, data=PractitionerCreate(
                    code=code, name=name, sex="male", title=PractitionerTitle.CHIEF_PHYSICIAN,
                    specialty=specialty, institution_code="PKUPH", department_code="CARD"))
                users.create(session, username=username, password=demo_network.password,
                             role=Role.CLINICIAN, institution_code="PKUPH",
                             practitioner_code=code)
            session.commit()
            return Staff(pkuph.id)
    finally:
        engine.dispose()


def _signed_in(browser: Browser, problems: BrowserProblems, base: str, username: str,
               password: str, path: str) -> Page:
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    sign_in_as(page, base, username, password, path)
    return page


def test_a_county_mdt_ends_in_the_referral_the_experts_recommend(
    page: Page, browser: Browser, live_server: str, demo_network: DemoNetwork, staff: Staff,
    problems: BrowserProblems, screenshot_dir: Path,
) -> None:
    password = demo_network.password
    sign_in_as(page, live_server, "huailai.doctor", password, "/consultations/new")
    page.get_by_label("查找患者").fill("宋桂兰")
    page.get_by_role("button", name="搜索患者").click()
    page.get_by_label(re.compile("宋桂兰 · 1962-03-14")).check()
    page.get_by_label("会诊类型").select_option("mdt")
    page.get_by_label("紧急程度").select_option("urgent")
    page.get_by_label("受邀医院").select_option(str(staff.pkuph_id))
    page.get_by_label("诊断编码（ICD-10）").fill("I25.1")
    page.get_by_label("会诊目的（请专家回答的问题）").fill("三支病变合并糖尿病，PCI 还是搭桥？")
    page.get_by_label("病情摘要").fill("反复胸痛半年，造影示三支病变")
    page.get_by_role("button", name="发送会诊申请").click()
    expect(page).to_have_url(re.compile(r"/consultations/\d+$"))
    consultation_url = page.url
    cid = consultation_url.rsplit("/", 1)[1]
    expect(page.locator("#status")).to_have_text("待受理")

    coordinator = _signed_in(browser, problems, live_server, COORDINATOR, password,
                             "/consultations?box=incoming")
    coordinator.get_by_role("link", name=f"会诊单 #{cid}", exact=True).click()
    for _, _, name, specialty in EXPERTS:
        coordinator.get_by_label(f"{name} · {specialty}").check()
    coordinator.get_by_role("button", name="受理并分配专家").click()
    expect(coordinator.locator("#status")).to_have_text("已受理")
    expect(coordinator.locator("#experts")).to_contain_text("邓影像")
    offered = coordinator.locator("#s-time option").first.inner_text()
    coordinator.get_by_role("button", name="确定会诊时间").click()
    expect(coordinator.locator("#status")).to_have_text("已排期")
    expect(coordinator.locator("#session-time")).to_contain_text(offered)
    coordinator.context.close()

    for index, (_, username, _, _) in enumerate(EXPERTS):
        expert = _signed_in(browser, problems, live_server, username, password,
                            "/consultations/calendar")
        expert.get_by_role("link", name=f"会诊单 #{cid}", exact=True).click()
        if index == 0:
            expert.get_by_role("button", name="开始会诊").click()
            expect(expert.locator("#status")).to_have_text("会诊中")
            expert.get_by_role("link", name="撰写会诊报告").click()
            expert.get_by_label("所见").fill("造影示三支病变，SYNTAX 评分 33 分")
            expert.get_by_label("会诊意见").fill("糖尿病合并复杂三支病变，外科搭桥获益更大")
            expert.get_by_label("建议", exact=True).fill(
                "转北京大学人民医院心外科行冠状动脉旁路移植术")
            expert.get_by_label("建议上转患者").check()
            expert.get_by_role("button", name="保存并签署").click()
        else:
            expert.get_by_role("link", name="撰写会诊报告").click()
            expert.get_by_role("button", name="签署报告").click()
        expect(expert.locator("#signatures li")).to_have_count(index + 1)
        expert.context.close()

    page.goto(live_server + "/inbox")
    expect(page.get_by_text(f"会诊 #{cid}：会诊报告已签署")).to_be_visible()
    page.goto(consultation_url)
    expect(page.locator("#status")).to_have_text("报告已签署")
    expect(page.locator("#recommendations")).to_contain_text("冠状动脉旁路移植术")
    expect(page.locator("#signatures li")).to_have_count(3)
    page.screenshot(path=str(screenshot_dir / "consultation-report.png"), full_page=True)
    page.get_by_label("转诊类型").select_option("inpatient")
    page.get_by_label("患者（或监护人）同意转诊").check()
    page.get_by_role("button", name="按报告建议发起转诊").click()
    expect(page).to_have_url(re.compile(r"/referrals/\d+$"))
    expect(page.locator("#status")).to_have_text("草稿")
    expect(page.locator("#request")).to_contain_text("北京大学人民医院")
    expect(page.locator("#request")).to_contain_text("冠状动脉旁路移植术")
    assert problems.messages == []


def test_an_analyst_reads_the_year_of_consultations_in_tables_and_charts(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from yilian.analytics.service import add_months
    from yilian.consultations.counts import month_start
    from yilian.consultations.models import Consultation, ConsultationKind

    this_month = datetime.now(UTC).astimezone(month_start("2026-01").tzinfo).strftime("%Y-%m")
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            since = Consultation.requested_at >= month_start(add_months(this_month, -11))
            total = session.scalar(select(func.count(Consultation.id)).where(since))
            mdt = session.scalar(select(func.count(Consultation.id)).where(
                since, Consultation.kind == ConsultationKind.MDT))
    finally:
        engine.dispose()
    assert total and mdt

    sign_in_as(page, live_server, "analyst", demo_network.password, "/")
    page.get_by_role("link", name="会诊统计").click()
    expect(page).to_have_url(re.compile(r"/consultations/counts$"))
    expect(page.locator("#total")).to_have_text(str(total))
    expect(page.locator("#by_kind-table tbody tr")).to_have_count(len(ConsultationKind))
    for chart, bars in (("#by_kind-chart", len(ConsultationKind)), ("#response-chart", 3),
                        ("#outcome-chart", 2)):
        expect(page.locator(chart)).to_have_attribute("data-rendered", str(bars))
        expect(page.locator(chart).locator("canvas")).to_have_count(1)
    expect(page.locator("#by_target_institution-table")).to_contain_text("北京儿童医院")
    expect(page.locator("#response-definition")).to_contain_text("答复时限")
    page.screenshot(path=str(screenshot_dir / "consultation-counts.png"), full_page=True)

    page.get_by_label("会诊类型").select_option("mdt")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("#total")).to_have_text(str(mdt))
    expect(page.locator("#by_kind-table tbody tr")).to_have_count(1)
    expect(page.locator("#counts-xlsx")).to_have_attribute("href", re.compile("kind=mdt"))
    assert problems.messages == []
