"""The volume page on the demo network: encounters imported as history show their ratio to
the baseline both in the table and as an ECharts bar, with no console or CSP error."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from yilian.analytics import history
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e


def _history() -> str:
    """Song's visits at the Huailai campus: 10 in the 2024 baseline, 25 in 2025 (2.5×)."""
    lines = [",".join(history.COLUMNS)]
    for year, count in ((2024, 10), (2025, 25)):
        for n in range(count):
            lines.append(f"PKUPH-HL,,HL-DEMO-SONG,E2E-{year}-{n},outpatient,,"
                         f"{year}-{n % 12 + 1:02d}-{n // 12 + 3:02d}T09:00,")
    return "\n".join(lines) + "\n"


def test_an_analyst_sees_the_ratio_to_baseline_in_the_table_and_the_chart(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    engine = make_engine(demo_network.url)
    try:
        with make_sessionmaker(engine)() as session:
            history.import_encounters(session, text=_history())
            campus = registry.institution_by_code_or_raise(session, code="PKUPH-HL")
            session.commit()
            campus_id = campus.id
    finally:
        engine.dispose()
    path = (f"/analytics/volumes?from=2025-01&to=2025-12&kind=outpatient"
            f"&institution_id={campus_id}&baseline_from=2024-01&baseline_to=2024-12")
    sign_in_as(page, live_server, "analyst", demo_network.password, path)
    row = page.locator("#volumes-table tbody tr[data-institution='PKUPH-HL']")
    expect(row.locator("td.ratio")).to_have_text("2.50×")
    chart = page.locator("#volumes-chart")
    expect(chart).to_have_attribute("data-rendered", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    assert chart.bounding_box() is not None and chart.bounding_box()["height"] > 100  # type: ignore[index]
    page.screenshot(path=str(screenshot_dir / "analytics-volumes.png"), full_page=True)
    assert problems.messages == []
