"""Done when: huailai.clerk settles Song's bill in the browser and prints the slip; the same
bill through ``yilian settlement simulate`` gives the same slip; Song pays her share."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from typer.testing import CliRunner

from tests.e2e.conftest import DESKTOP, BrowserProblems, DemoNetwork
from yilian.cli import app
from yilian.settlement.catalogue import PACKAGED_CATALOGUES
from yilian.settlement.policy import PACKAGED_POLICIES

pytestmark = pytest.mark.e2e

# Song's bill: bed 10 days, heparin over its limit, a CT, a class-C consultation.
LINES = [("110900001", "10", "50.00"), ("XB01ABA035", "10", "30.00"),
         ("210300001", "1", "150.00"), ("910000001", "1", "300.00")]
# By hand: in scope 500 + 238 + 150 = 888.00; (888 − 500) × 80 % = 310.40 from the fund.
EXPECTED = {"medfee_sumamt": "1,250.00", "fulamt_ownpay_amt": "300.00",
            "overlmt_selfpay": "20.00", "preselfpay_amt": "42.00", "inscp_scp_amt": "888.00",
            "act_pay_dedc": "500.00", "hifp_pay": "310.40", "fund_pay_sumamt": "310.40",
            "psn_part_amt": "939.60", "psn_cash_pay": "939.60"}


def sign_in(page: Page, base_url: str, username: str, password: str, path: str) -> None:
    """Open a page, sign in on the login form it sends us to, and come back."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def figure(page: Page, field: str) -> str:
    """A slip figure as the page shows it."""
    return page.locator(f"[data-testid=slip] tr[data-field={field}] td").inner_text().strip()


def test_clerk_settles_songs_bill_prints_it_and_the_cli_agrees(
    page: Page, browser: Browser, live_server: str, demo_network: DemoNetwork,
    problems: BrowserProblems, screenshot_dir: Path, tmp_path: Path,
) -> None:
    sign_in(page, live_server, "huailai.clerk", demo_network.password, "/settlement/new")
    page.get_by_label("患者号").fill("HL-DEMO-SONG")
    page.get_by_label("入院日期").fill("2026-11-18")
    page.get_by_label("出院日期").fill("2026-11-28")
    for row, (code, qty, price) in enumerate(LINES, start=1):
        page.get_by_label(f"项目编码 {row}", exact=True).fill(code)
        page.get_by_label(f"数量 {row}", exact=True).fill(qty)
        page.get_by_label(f"单价 {row}", exact=True).fill(price)
    page.get_by_role("button", name="预览结算单").click()
    preview = page.locator("#slip-preview")
    expect(preview).to_contain_text("结算单预览")
    expect(preview.locator("tr[data-field=hifp_pay] td")).to_have_text("310.40")
    page.get_by_role("button", name="结算", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settlement/\d+$"))
    expect(page.locator("[data-testid=slip]")).to_contain_text("住院费用异地就医直接结算单")
    shown = {field: figure(page, field) for field in EXPECTED}
    assert shown == EXPECTED

    # Printed: the slip alone, in Chinese, with its figures.
    page.emulate_media(media="print")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.get_by_role("button", name="打印结算单")).to_be_hidden()
    assert {field: figure(page, field) for field in EXPECTED} == EXPECTED
    assert "宋桂兰" in page.locator("[data-testid=slip]").inner_text()
    page.screenshot(path=str(screenshot_dir / "settlement-slip-print.png"), full_page=True)
    page.emulate_media(media="screen")
    slip_url = page.url

    # The same bill through the CLI gives the same slip (Song had no admission this year).
    bill = {"insured_region": "130730", "scheme": "resident", "filing": "filed",
            "institution_level": 2, "treatment_region": "130730",
            "admission_date": "2026-11-18", "year_to_date": {"hifp_pay": 0, "admissions": 0},
            "lines": [{"code": c, "qty": q, "unit_price": p} for c, q, p in LINES]}
    (tmp_path / "bill.json").write_text(json.dumps(bill), encoding="utf-8")
    result = CliRunner().invoke(app, [
        "settlement", "simulate", "--policy", str(PACKAGED_POLICIES / "130700_resident_2026.yaml"),
        "--catalogue", str(PACKAGED_CATALOGUES / "130000_hebei_2026.csv"),
        "--bill", str(tmp_path / "bill.json")])
    assert result.exit_code == 0, result.output
    cli_slip = json.loads(result.stdout)
    assert {field: f"{float(cli_slip[field]):,.2f}" for field in EXPECTED} == EXPECTED
    assert [line["code"] for line in cli_slip["lines"]] == [code for code, _, _ in LINES]

    # Song sees what she owes, pays it herself and gets a receipt.
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    song = context.new_page()
    song.on("console", problems.on_console)
    sign_in(song, live_server, "huailai.patient", demo_network.password, "/settlement/mine")
    expect(song.locator("[data-testid=owed]")).to_contain_text("939.60")
    song.goto(slip_url)
    song.get_by_role("button", name=re.compile("自助缴费")).click()
    expect(song.locator("[data-testid=receipt]")).to_contain_text("939.60")
    song.goto(live_server + "/settlement/mine")
    expect(song.locator("[data-testid=owed]")).to_contain_text("0.00")
    context.close()
    assert problems.messages == []
