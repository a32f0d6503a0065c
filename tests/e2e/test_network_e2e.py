"""The agreement network page on the demo network: the force-layout graph is drawn from the
edge table under it, the programme table has its bar chart, filters narrow both, and the
page raises no console or CSP error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as

pytestmark = pytest.mark.e2e


def test_an_analyst_sees_the_agreement_graph_its_edge_table_and_the_programme_counts(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    sign_in_as(page, live_server, "analyst", demo_network.password, "/analytics/network")
    expect(page.locator("h1")).to_have_text("协作网络")
    edges = page.locator("#network-edges tbody tr[data-agreement]")
    trusteeship = page.locator("#network-edges tbody tr[data-agreement='TG-2015-01']")
    expect(trusteeship).to_have_count(1)
    expect(trusteeship.locator("td").nth(1)).to_have_text("托管")
    expect(page.locator("#network-edges tbody tr[data-agreement='ZK-2022-01']"
                        "[data-member]")).not_to_have_count(0)
    edge_count = edges.count()
    node_count = page.locator("#network-nodes tbody tr[data-node]").count()
    assert edge_count > 50 and node_count > 20

    chart = page.locator("#network-chart")
    expect(chart).to_have_attribute("data-rendered", str(node_count))
    expect(chart).to_have_attribute("data-rendered-edges", str(edge_count))
    expect(chart.locator("canvas")).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["height"] > 300
    expect(page.locator("#network-edge-legend li[data-type='trusteeship']")).to_have_text("托管")
    page.select_option("#network-colour", "kind")  # recolour by kind: redraws, no error
    expect(chart.locator("canvas")).to_have_count(1)

    programme = page.locator("#programme-table tbody tr[data-region='130600']")
    expect(programme.locator("th")).to_contain_text("保定市")
    expect(page.locator("#programme-chart canvas")).to_have_count(1)
    expect(page.locator("#programme-chart")).not_to_have_attribute("data-rendered", "0")
    expect(page.locator("#programme-definitions")).to_contain_text("共建科室")
    page.screenshot(path=str(screenshot_dir / "analytics-network.png"), full_page=True)
    chart.screenshot(path=str(screenshot_dir / "analytics-network-graph.png"))

    # Trusteeships only: the table and the graph narrow together.
    page.select_option("#network-type", "trusteeship")
    page.get_by_role("button", name="查询").click()
    expect(page).to_have_url(re.compile(r"/analytics/network\?.*type=trusteeship"))
    types = page.locator("#network-edges tbody tr[data-agreement]")
    expect(types).not_to_have_count(0)
    assert set(types.evaluate_all("rows => rows.map(r => r.dataset.type)")) == {"trusteeship"}
    expect(chart).to_have_attribute("data-rendered-edges", str(types.count()))
    expect(page.locator("#network-xlsx")).to_have_attribute(
        "href", "/api/v1/analytics/network.xlsx?type=trusteeship")
    page.goto(f"{live_server}/analytics/network?type=trusteeship&lang=en")
    expect(page.locator("h1")).to_have_text("Collaboration network")
    expect(page.locator("#network-edges tbody tr[data-agreement='TG-2015-01'] td").nth(1)
           ).to_have_text("Trusteeship")
    expect(page.locator("#network-chart canvas")).to_have_count(1)
    assert problems.messages == []
