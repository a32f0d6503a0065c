"""Mutual recognition in a real browser (issue 7, "Done when"): a Huailai CT and blood panel
arrive by HL7 v2 ORU^R01; once the campus refers 宋桂兰 to PKU People's Hospital, its doctor
sees them on her timeline, the CT is "recognisable, 12 days old, valid 30", a re-test
demands a reason, the expired and the unqualified results are refused with the reason, and
the accepted CT shows in the savings ledger."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from tests.results.oru import blood_count, chest_ct, oru
from yilian.db import make_engine, make_sessionmaker
from yilian.demo import patients as demo_patients
from yilian.patients import service as patients
from yilian.patients.models import SharingReason
from yilian.patients.schemas import ShareCreate
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def song_id(live_server: str, demo_network: DemoNetwork) -> int:
    """Song's CT (12 days ago) and blood count (yesterday) sent by the campus's LIS/PACS,
    then the campus refers her to PKU People's Hospital."""
    form = urllib.parse.urlencode({"username": "huailai.admin",
                                   "password": demo_network.password}).encode()
    signing_in = f"{live_server}/api/v1/auth/token"
    with urllib.request.urlopen(signing_in, data=form) as answer:  # noqa: S310 - loopback
        token = json.load(answer)["access_token"]
    now = datetime.now(UTC)
    message = oru("E2E-ORU-1", chest_ct(now - timedelta(days=12)),
                  blood_count(now - timedelta(days=1)), local_id=demo_patients.SONG_LOCAL_ID)
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        f"{live_server}/hl7/v2", data=message.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/hl7-v2"})
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        ack = answer.read().decode()
    assert "MSA|AA|E2E-ORU-1" in ack, ack
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            song = demo_patients.song(session)
            assert song is not None
            pkuph = registry.institution_by_code_or_raise(session, code="PKUPH")
            patients.share_person(session, None, person=song, data=ShareCreate(
                institution_id=pkuph.id, reason=SharingReason.REFERRAL, source_ref="E2E-REF"))
            session.commit()
            return song.id
    finally:
        engine.dispose()


def test_a_huailai_ct_is_recognised_at_pku_peoples_hospital(
    page: Page, live_server: str, demo_network: DemoNetwork, song_id: int,
    problems: BrowserProblems, screenshot_dir: Path,
) -> None:
    timeline = f"/results/persons/{song_id}"
    sign_in_as(page, live_server, "pkuph.doctor", demo_network.password, timeline)
    rows = page.locator("tr.timeline-entry")
    expect(rows.filter(has_text="胸部CT平扫")).to_contain_text("医联体HR")
    expect(rows.filter(has_text="胸部CT平扫")).to_contain_text("剩余 18 天")
    expect(rows.filter(has_text="血常规")).to_contain_text("可互认")
    page.screenshot(path=str(screenshot_dir / "results-timeline.png"), full_page=True)

    page.goto(f"{live_server}/results/order-check?person_id={song_id}&item_code=JJJ-E010"
              "&lang=en")
    expect(page.locator(".verdict")).to_have_text(
        re.compile(r"recognisable, 12 days old, valid 30"))
    page.get_by_text("Order it anyway (re-test)").click()
    page.get_by_role("button", name="Record the re-test").click()
    expect(page.get_by_role("alert")).to_have_text("A re-test needs a reason")

    page.goto(f"{live_server}/results/order-check?person_id={song_id}&item_code=JJJ-L006")
    expect(page.locator(".verdict")).to_contain_text("expired: performed 45 days ago, "
                                                     "validity 14 days")
    page.goto(f"{live_server}/results/order-check?person_id={song_id}&item_code=JJJ-E030")
    expect(page.locator(".verdict")).to_contain_text("was not qualified for this item")

    page.goto(f"{live_server}/results/order-check?person_id={song_id}&item_code=JJJ-E010")
    page.get_by_role("button", name="Recognise this result (do not re-test)").click()
    expect(page.locator(".notice").first).to_contain_text("saving is recorded")
    page.screenshot(path=str(screenshot_dir / "results-order-check.png"), full_page=True)

    page.context.clear_cookies()
    sign_in_as(page, live_server, "admin", demo_network.password, "/results/savings")
    expect(page.locator("table.savings")).to_contain_text("胸部CT平扫")
    expect(page.locator("#savings-total")).to_have_text("¥300.00")
    # The one console error is the refused re-test's own 422 answer.
    assert [m for m in problems.messages if "422" not in m] == []
