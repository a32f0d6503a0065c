"""The web UI in a real browser on the demo network: sign in, filter, read, switch language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, DemoNetwork

pytestmark = pytest.mark.e2e

HUAILAI = "北京大学人民医院怀来院区（怀来县医院）"


def sign_in(page: Page, base_url: str, network: DemoNetwork, path: str = "/") -> None:
    """Open a page, get sent to the login form, sign in, and come back to the page."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(network.username)
    page.get_by_label("密码").fill(network.password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base_url + path)


def no_horizontal_scroll(page: Page) -> bool:
    """Whether the page fits the window's width (nothing sticks out on a phone)."""
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def test_sign_in_lands_on_the_home_page(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems
) -> None:
    sign_in(page, live_server, demo_network)

    expect(page.locator(".who-role")).to_have_text("平台管理员")
    expect(page.get_by_role("heading", name="协作网络概况")).to_be_visible()
    expect(page.locator(".stat").first).to_contain_text("57")
    assert problems.messages == []


def test_filter_the_directory_to_hebei_level_3_hospitals(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    sign_in(page, live_server, demo_network, "/registry/institutions")

    page.get_by_label("地区").select_option(label="河北省")
    expect(page).to_have_url(re.compile(r"region_code=130000"))
    page.get_by_label("级别").select_option(label="三级")
    expect(page).to_have_url(re.compile(r"region_code=130000&level=3"))

    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(len(demo_network.hebei_level3_codes))
    codes = {text.strip() for text in page.locator("#results tbody .code").all_inner_texts()}
    assert codes == demo_network.hebei_level3_codes
    assert {"BCH-BD", "HBUAH", "SJZPH"} <= codes  # Baoding, Baoding, Shijiazhuang
    for region in page.locator("#results tbody td:nth-child(2)").all_inner_texts():
        assert region.startswith("河北省")
    for level in page.locator("#results tbody td:nth-child(3)").all_inner_texts():
        assert level.startswith("三级")
    # htmx replaced only the results: the filters keep their choices
    expect(page.get_by_label("地区")).to_have_value("130000")
    expect(page.get_by_label("级别")).to_have_value("3")

    page.screenshot(path=str(screenshot_dir / "institutions-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.reload()
    expect(rows).to_have_count(len(demo_network.hebei_level3_codes))
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(screenshot_dir / "institutions-phone.png"), full_page=True)
    assert problems.messages == []


def test_an_institution_page_shows_its_departments(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    sign_in(page, live_server, demo_network, "/registry/institutions")

    page.get_by_label("名称或编码").fill("怀来院区")
    expect(page).to_have_url(re.compile(r"text="))
    page.get_by_role("link", name=HUAILAI).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(HUAILAI)
    departments = page.locator("#departments")
    expect(departments.locator("tbody tr").first).to_be_visible()
    expect(departments).to_contain_text("心血管内科")
    expect(departments).to_contain_text("神经内科")
    expect(page.get_by_role("link", name="北京大学人民医院", exact=True)).to_be_visible()
    expect(page.locator("#agreements")).to_contain_text("托管")
    page.screenshot(path=str(screenshot_dir / "institution-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.reload()
    expect(departments).to_contain_text("心血管内科")
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(screenshot_dir / "institution-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    assert problems.messages == []


def test_language_switch_turns_the_page_to_english_and_back(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
) -> None:
    sign_in(page, live_server, demo_network, "/registry/institutions")
    page.get_by_label("级别").select_option(label="三级")
    expect(page).to_have_url(re.compile(r"level=3"))

    page.get_by_role("link", name="English").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Institution directory")
    expect(page).to_have_url(re.compile(r"level=3"))  # the filter survives the switch
    expect(page.get_by_label("Level")).to_have_value("3")
    expect(page.locator("#results")).to_contain_text("Peking University People's Hospital")
    page.get_by_role("link", name="Agreements", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Collaboration agreements")
    expect(page.locator("#results")).to_contain_text("Trusteeship")

    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", level=1)).to_have_text("协作协议")
    assert problems.messages == []
