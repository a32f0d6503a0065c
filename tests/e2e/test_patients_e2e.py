"""The review queue in a real browser: a hospital administrator merges a possible duplicate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import demo_settings
from tests.e2e.conftest import DESKTOP, PHONE, BrowserProblems, DemoNetwork
from tests.factories import resident_id_number
from yilian.db import make_engine, make_sessionmaker
from yilian.patients import service as patients
from yilian.patients.schemas import RecordCreate
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e

HUAILAI_ADMIN = "huailai.admin"  # 怀来院区医务科, a demo account
HUAILAI_CAMPUS = "PKUPH-HL"
BORN = date(1968, 3, 14)


@dataclass(frozen=True)
class ReviewCase:
    """Two registrations at the Huailai campus the index could not decide alone."""

    review_id: int
    person_id: int  # the person registered first, who keeps both records after the merge
    local_ids: tuple[str, str]


@pytest.fixture(scope="module")
def review_case(demo_network: DemoNetwork) -> ReviewCase:
    """宋秀兰 with her ID card, then a 宋秀兰 born the same day with another phone number."""
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            campus = registry.institution_by_code_or_raise(session, code=HUAILAI_CAMPUS)
            first = patients.register_record(
                session, demo_settings(demo_network.url), None,
                data=RecordCreate(
                    institution_id=campus.id, local_id="E2E-MZ-0001", name="宋秀兰",
                    sex="female", birth_date=BORN, phone="13812345678",
                    id_number=resident_id_number("130730", BORN, 123, male=False),
                ),
            )
            second = patients.register_record(
                session, demo_settings(demo_network.url), None,
                data=RecordCreate(
                    institution_id=campus.id, local_id="E2E-ZY-0002", name="宋秀兰",
                    sex="female", birth_date=BORN, phone="13900001111",
                ),
            )
            session.commit()
            assert len(second.reviews) == 1, second.outcome
            return ReviewCase(second.reviews[0].id, first.person.id,
                              ("E2E-MZ-0001", "E2E-ZY-0002"))
    finally:
        engine.dispose()


def sign_in_as(page: Page, base_url: str, username: str, password: str, path: str) -> None:
    """Open a page, get sent to the login form, sign in, and come back to the page."""
    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(base_url + path)


def test_hospital_admin_merges_a_possible_duplicate_from_the_queue(
    page: Page, live_server: str, demo_network: DemoNetwork, review_case: ReviewCase,
    problems: BrowserProblems, screenshot_dir: Path,
) -> None:
    sign_in_as(page, live_server, HUAILAI_ADMIN, demo_network.password, "/patients")
    page.get_by_role("link", name="待审核队列").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("待审核队列")
    page.get_by_role("link", name=f"审核项 #{review_case.review_id}", exact=True).click()

    expect(page).to_have_url(f"{live_server}/patients/reviews/{review_case.review_id}")
    pair = page.locator("#records")
    for local_id in review_case.local_ids:
        expect(pair).to_contain_text(local_id)
    expect(pair).to_contain_text("138****5678")
    expect(page.locator("#evidence tr.evidence-for").first).to_be_visible()
    expect(page.locator("#evidence tr.evidence-against")).to_contain_text("手机号")
    page.screenshot(path=str(screenshot_dir / "review-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(screenshot_dir / "review-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)

    page.get_by_label("原因").fill("电话回访：患者已换手机号")
    page.get_by_role("button", name="同一人，合并").click()

    expect(page).to_have_url(f"{live_server}/patients/{review_case.person_id}")
    expect(page.get_by_role("status")).to_contain_text("已合并")
    records = page.locator("#records article.source-record")
    expect(records).to_have_count(2)
    for local_id in review_case.local_ids:
        expect(page.locator("#records")).to_contain_text(local_id)
    expect(page.locator("#history")).to_contain_text("合并")
    page.screenshot(path=str(screenshot_dir / "person-merged.png"), full_page=True)
    assert problems.messages == []
