"""The issue's "Done when" in a real browser: Song books a visiting Beijing expert's Tuesday
clinic at the Huailai campus on her phone, checks in on the day and appears on the queue
screen; when the expert's next Tuesday is called off she is told and moves to a new slot.

The server runs on the demo network with a scheduling clock the test moves (next Tuesday
07:30, then 10 minutes before her slot), so the story does not depend on today's weekday.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import TEST_FIELD_KEY, demo_settings
from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, DemoNetwork
from tests.factories import register, resident_id_number
from tests.live import serve
from yilian.app import create_app
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry
from yilian.registry.models import Practitioner
from yilian.scheduling import service as scheduling
from yilian.scheduling.models import ClinicSession, StationingRole

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class MovableClock:
    """The server's scheduling clock; the test sets the moment."""

    moment: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.moment


@dataclass(frozen=True)
class VisitingClinic:
    """The demo's visiting Beijing cardiologist and his Tuesday clinic at Huailai."""

    clinic_id: int
    expert_id: int
    expert_name: str
    tuesday: date


@pytest.fixture(scope="module")
def visiting_clinic(demo_network: DemoNetwork) -> VisitingClinic:
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            huailai = registry.institution_by_code_or_raise(session, code="PKUPH-HL")
            clinic, expert = session.execute(
                select(ClinicSession, Practitioner)
                .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
                .where(ClinicSession.institution_id == huailai.id, ClinicSession.weekday == 1,
                       ClinicSession.slot_count == 20)
            ).one()
            assert expert.institution.code == "PKUPH"  # a Beijing expert
            roster = scheduling.list_stationed(session, institution_id=huailai.id,
                                               today=date.today())
            assert any(entry.practitioner.id == expert.id
                       and entry.stationing.role is StationingRole.VISITING for entry in roster)
            today = datetime.now(SHANGHAI).date()
            tuesday = today + timedelta(days=(1 - today.weekday() - 1) % 7 + 1)
            return VisitingClinic(clinic.id, expert.id, expert.name, tuesday)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="module")
def clinic_server(
    demo_network: DemoNetwork, clock: MovableClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A live server on the demo network whose scheduling clock the test moves."""
    settings = Settings(
        database_url=demo_network.url, secret_key="e2e-secret-key-not-for-production-0123456789",
        secret_file=tmp_path_factory.mktemp("secret") / "unused.secret",
        field_key=TEST_FIELD_KEY, log_json=True, log_level="WARNING",
    )
    app = create_app(settings)
    app.state.scheduling_clock = clock
    try:
        with serve(app) as base:
            yield base
    finally:
        app.state.engine.dispose()


def sign_in(page: Page, base_url: str, username: str, password: str, path: str) -> None:
    """Open a page, sign in on the form it sends us to, and come back."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(path.split("?")[0])))


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def test_song_books_checks_in_is_queued_and_is_moved_when_the_clinic_is_called_off(
    browser: Browser, clinic_server: str, demo_network: DemoNetwork, clock: MovableClock,
    visiting_clinic: VisitingClinic, problems: BrowserProblems,
) -> None:
    tuesday = visiting_clinic.tuesday
    clock.moment = local(tuesday, 7, 0)
    phone_context = browser.new_context(viewport=PHONE, locale="zh-CN")
    phone = phone_context.new_page()
    phone.on("console", problems.on_console)
    phone.on("pageerror", problems.on_page_error)
    sign_in(phone, clinic_server, "huailai.patient", demo_network.password, "/scheduling/book")

    # On her phone: the visiting expert, his free slots, the first one booked.
    phone.get_by_role("link", name=visiting_clinic.expert_name).click()
    expect(phone.get_by_role("heading", level=1)).to_contain_text(visiting_clinic.expert_name)
    first_day = phone.locator("details").first
    expect(first_day.locator("summary")).to_contain_text(tuesday.isoformat())
    slot_button = first_day.locator("button[data-slot]").first
    slot_time = slot_button.inner_text()[:5]
    slot_button.click()
    code = phone.locator("#appointment-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", code)
    expect(phone.locator("#appointment")).to_contain_text("已预约")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # At the clinic: the doctor's queue screen is open before she arrives.
    desk_context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    desk = desk_context.new_page()
    desk.on("console", problems.on_console)
    desk.on("pageerror", problems.on_page_error)
    hour, minute = (int(part) for part in slot_time.split(":"))
    clock.moment = local(tuesday, hour, minute) - timedelta(minutes=10)
    sign_in(desk, clinic_server, "huailai.doctor", demo_network.password,
            f"/scheduling/queue/{visiting_clinic.clinic_id}")
    expect(desk.locator("#waiting")).to_contain_text("暂无候诊")

    # She checks in with her code on the day and gets a queue number.
    phone.goto(clinic_server + "/scheduling/checkin")
    phone.get_by_label("预约码").fill(code)
    phone.get_by_role("button", name="签到").click()
    expect(phone.locator("#checked-in")).to_contain_text("签到成功")
    number = phone.locator("#checked-in #queue-number").inner_text().strip()

    # The screen refreshes itself: she appears as next, masked, without a reload.
    waiting = desk.locator("#waiting li").first
    expect(waiting).to_contain_text("宋*兰", timeout=12_000)
    expect(waiting).to_contain_text(number)
    desk.get_by_role("button", name="叫下一位").click()
    expect(desk.locator("#in-room")).to_contain_text("宋*兰")

    # She also books next week's clinic; then the expert is called away that day.
    phone.goto(clinic_server + f"/scheduling/book/slots?practitioner_id="
               f"{visiting_clinic.expert_id}")
    next_week = (tuesday + timedelta(days=7)).isoformat()
    next_day = phone.locator("details", has_text=next_week)
    next_day.locator("summary").click()
    next_day.locator("button[data-slot]").first.click()
    expect(phone.locator("#appointment")).to_contain_text("已预约")

    admin_context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    admin = admin_context.new_page()
    sign_in(admin, clinic_server, "huailai.admin", demo_network.password,
            f"/scheduling/experts/{visiting_clinic.expert_id}")
    admin.get_by_label("停诊日期").fill(next_week)
    admin.get_by_label("停诊原因").fill("赴京参加学术会议")
    admin.get_by_role("button", name="停诊并通知患者").click()
    expect(admin.locator("#called-off")).to_be_visible()

    # Her page tells her why and offers the next free slots; she moves with one tap.
    phone.goto(clinic_server + "/scheduling/mine")
    notice = phone.locator("[id^=notice-]").first
    expect(notice).to_contain_text("赴京参加学术会议")
    expect(notice).to_contain_text(visiting_clinic.expert_name)
    notice.get_by_role("button").first.click()
    expect(phone.locator("#appointment")).to_contain_text("已预约")
    moved_to = phone.locator("#appointment").inner_text()
    assert (tuesday + timedelta(days=14)).isoformat() in moved_to
    assert problems.messages == []
    for context in (phone_context, desk_context, admin_context):
        context.close()


def test_a_nurse_books_a_phone_caller_at_the_desk_prints_the_slip_and_cancels(
    browser: Browser, clinic_server: str, demo_network: DemoNetwork, clock: MovableClock,
    visiting_clinic: VisitingClinic, problems: BrowserProblems,
) -> None:
    # A villager calls the Huailai campus; she is registered there already.
    id_number = resident_id_number("130730", date(1958, 9, 2), 48, male=False)
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            huailai = registry.institution_by_code_or_raise(session, code="PKUPH-HL")
            register(session, demo_settings(demo_network.url), huailai, "HL-DESK-0001",
                     name="周秀英", sex="female", birth_date="1958-09-02", id_number=id_number)
            session.commit()
    finally:
        engine.dispose()
    clock.moment = local(visiting_clinic.tuesday, 7, 0) - timedelta(days=1)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    desk = context.new_page()
    desk.on("console", problems.on_console)
    desk.on("pageerror", problems.on_page_error)
    sign_in(desk, clinic_server, "huailai.doctor", demo_network.password, "/scheduling/desk")

    desk.get_by_label("姓名、病案号或身份证号").fill(id_number)
    desk.get_by_role("button", name="查找患者").click()
    desk.locator("#desk-people").get_by_role("link", name="周秀英").click()
    expect(desk.locator("#desk-person")).to_contain_text("周秀英")
    desk.locator("#desk-choice").get_by_role("link", name=visiting_clinic.expert_name).click()
    desk.get_by_label("电话预约").check()
    first_day = desk.locator("fieldset.desk-day").first
    expect(first_day.locator("legend")).to_contain_text(visiting_clinic.tuesday.isoformat())
    first_day.locator("input[name=slot_id]").first.check()
    desk.get_by_role("button", name="为患者预约").click()

    expect(desk.locator("#appointment-source")).to_have_text("电话预约")
    code = desk.locator("#appointment-code").inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", code)
    expect(desk.get_by_role("button", name="打印预约凭条")).to_be_visible()
    desk.emulate_media(media="print")  # the printed slip is the slip alone
    expect(desk.locator("#desk-cancel")).to_be_hidden()
    expect(desk.locator("#appointment-code")).to_be_visible()
    desk.emulate_media(media="screen")

    desk.get_by_label("取消原因").fill("患者来电改期")
    desk.get_by_role("button", name="取消预约").click()
    expect(desk.locator("#appointment-status")).to_have_text("已取消")
    expect(desk.locator("#cancel-reason")).to_contain_text("患者来电改期")
    assert problems.messages == []
    context.close()
