"""The inbox in a real browser: the nav's unread badge (fetched by htmx under the strict
CSP), opening a notification, and an administrator subscribing a system to events.

Runs on a small network of its own (no demo load): a county hospital and its staff.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.e2e.conftest import BrowserProblems
from tests.factories import PASSWORD, make_institution, make_user
from tests.live import serve
from yilian.app import create_app
from yilian.auth.models import Role
from yilian.config import Settings
from yilian.notify import service as notify

pytestmark = pytest.mark.e2e


@pytest.fixture
def county_server(session: Session, settings: Settings) -> Iterator[str]:
    """A live server on the test database, with a county hospital administrator who has
    two unread notifications; its base URL."""
    county = make_institution(session, code="COUNTY")
    make_user(session, role=Role.HOSPITAL_ADMIN, institution=county, username="county.admin")
    for number, link in ((1, "/inbox"), (2, "")):
        notify.publish(session, kind="referral.received", institution_ids=[county.id],
                       title_zh=f"新转诊 {number}：胸痛", title_en=f"New referral {number}",
                       link=link)
    session.commit()
    app = create_app(settings)
    try:
        with serve(app) as base:
            yield base
    finally:
        app.state.engine.dispose()


def test_an_administrator_clears_the_inbox_badge_and_subscribes_the_his(
    page: Page, county_server: str, problems: BrowserProblems, screenshot_dir: Path
) -> None:
    page.goto(county_server + "/")
    page.get_by_label("用户名").fill("county.admin")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    inbox_link = page.get_by_role("link", name=re.compile("^消息"))
    expect(inbox_link.locator(".badge")).to_have_text("2")  # loaded by htmx after the page

    inbox_link.click()
    expect(page.get_by_role("heading", name="消息")).to_be_visible()
    expect(page.get_by_text("新转诊 1：胸痛")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "notify-inbox.png"), full_page=True)
    page.get_by_role("button", name="查看").click()  # opens its link, marked read
    expect(inbox_link.locator(".badge")).to_have_text("1")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_text("所有通知已标为已读。")).to_be_visible()
    expect(inbox_link.locator(".badge")).to_have_count(0)

    page.get_by_role("link", name="回调接口").click()
    page.get_by_label("地址").fill("https://his.county.example/yilian/events")
    page.get_by_label("事件类型").fill("referral")
    page.get_by_role("button", name="创建订阅").click()
    secret = page.locator("code.secret")
    expect(secret).to_have_text(re.compile(r"^whsec_"))
    page.goto(county_server + "/notify/webhooks")
    page.get_by_role("link", name="https://his.county.example/yilian/events").click()
    expect(page.locator("code.secret")).to_have_count(0)  # shown once only
    expect(page.get_by_text("尚未发送任何消息。")).to_be_visible()
    assert problems.messages == []
