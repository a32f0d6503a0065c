"""The Baoding commission overview on the demo network: a Baoding-insured child's visits
at the Beijing Children's Hospital Baoding hospital, imported as history, show the ratio
to the first trusteeship's baseline (TG-2015-01: 2014-05 … 2015-04) beside the figure the
API computes; the charts draw; the XLSX link downloads; no console or CSP error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import TEST_FIELD_KEY
from tests.e2e.conftest import BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from tests.factories import register
from yilian.analytics import aggregates, history, overview
from yilian.analytics.metrics import last_complete_year
from yilian.auth import service as users
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.patients.models import PatientRecord
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e
PATIENT = "BD-E2E-001"


def _history(year: str) -> str:
    """4 visits in the baseline year, 10 in the last complete year: 2.50× unless the demo
    history adds more (the page is compared with the API either way)."""
    lines = [",".join(history.COLUMNS)]
    lines += [f"BCH-BD,,{PATIENT},E2E-OLD-{n},outpatient,,2014-{n + 5:02d}-10T09:00,"
              for n in range(4)]
    lines += [f"BCH-BD,,{PATIENT},E2E-NEW-{n},outpatient,,{year}-{n + 1:02d}-10T09:00,"
              for n in range(10)]
    return "\n".join(lines) + "\n"


def _load(url: str) -> str:
    """Import the history; the ratio the API reports for the overview's default period."""
    engine = make_engine(url)
    settings = Settings(database_url=url, field_key=TEST_FIELD_KEY,
                        secret_key="e2e-secret-key-not-for-production-0123456789")
    try:
        with make_sessionmaker(engine)() as session:
            bchbd = registry.institution_by_code_or_raise(session, code="BCH-BD")
            known = session.scalar(select(PatientRecord).where(
                PatientRecord.institution_id == bchbd.id, PatientRecord.local_id == PATIENT))
            if known is None:
                register(session, settings, bchbd, PATIENT, name="保定小明", sex="male",
                         birth_date="2012-03-04", insured_region_code="130600")
            history.import_encounters(session, text=_history(last_complete_year()[0][:4]))
            aggregates.refresh(session)
            session.commit()
            analyst = users.get_by_username(session, username="analyst")
            assert analyst is not None
            report = overview.overview(session, users.principal_for(session, user=analyst),
                                       query=overview.OverviewQuery(region_code="130600"))
            row = next(r for r in report.volumes.rows
                       if r.institution_code == "BCH-BD" and r.kind.value == "outpatient")
            assert row.baseline_from == "2014-05" and row.baseline_source == "TG-2015-01"
            session.rollback()
            return f"{row.ratio}×"
    finally:
        engine.dispose()


def test_an_analyst_opens_the_baoding_overview(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    expected = _load(demo_network.url)
    sign_in_as(page, live_server, "analyst", demo_network.password,
               "/analytics/overview?region=130600")
    expect(page.locator("#ratio-BCH-BD-outpatient")).to_have_text(expected)
    expect(page.locator("#overview-region")).to_contain_text("保定")
    ratios = page.locator("#ratios-chart")
    expect(ratios).to_have_attribute("data-rendered", str(
        page.locator("#ratios-table tbody tr[data-x]").count()))
    expect(ratios.locator("canvas")).to_have_count(1)
    expect(page.locator("#outflow-chart canvas")).to_have_count(1)
    expect(page.locator("#network-link")).to_have_attribute(
        "href", "/analytics/network?region=130600")
    with page.expect_download() as download:
        page.locator("#outflow-xlsx").click()
    assert download.value.suggested_filename == "outflow.xlsx"
    page.screenshot(path=str(screenshot_dir / "analytics-overview.png"), full_page=True)
    assert problems.messages == []
