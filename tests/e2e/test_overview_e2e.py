"""Issue 9's tour on the demo network: an analyst opens the Baoding overview and sees the
children's hospital's visits, admissions and surgeries against the year before its
trusteeship (2.47×, 1.32×, 3.46×: the seeds' figures, which the demo history reproduces as
encounter rows) — the same ratios a raw count of those rows gives —, the outflow trend and
the Guang'anmen partnership's −60 %, the referral flows and the agreement network; the
volume table downloads as XLSX with the same ratios; no console or CSP error."""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.e2e.conftest import BrowserProblems, DemoNetwork
from tests.e2e.test_patients_e2e import sign_in_as
from yilian.analytics.models import Encounter, EncounterKind
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry

pytestmark = pytest.mark.e2e
KINDS = {"outpatient": "2.47×", "admission": "1.32×", "surgery": "3.46×"}


def _raw_ratios(url: str) -> dict[str, str]:
    """BCH-BD's 2025 against 2014-05 … 2015-04, counted straight from the encounter rows
    (12 months each, so the ratio of monthly means is the ratio of totals)."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            bchbd = registry.institution_by_code_or_raise(session, code="BCH-BD")

            def count(kind: EncounterKind, first: str, last: str) -> int:
                return session.scalar(select(func.count(Encounter.id)).where(
                    Encounter.institution_id == bchbd.id, Encounter.kind == kind,
                    Encounter.status != "cancelled",
                    Encounter.start_month.between(first, last))) or 0

            ratios = {}
            for name, kind in (("outpatient", EncounterKind.OUTPATIENT),
                               ("admission", EncounterKind.INPATIENT),
                               ("surgery", EncounterKind.SURGERY)):
                ratio = Decimal(count(kind, "2025-01", "2025-12")) / count(
                    kind, "2014-05", "2015-04")
                ratios[name] = f"{ratio.quantize(Decimal('0.01'), ROUND_HALF_UP)}×"
            return ratios
    finally:
        engine.dispose()


def test_an_analyst_tours_the_baoding_overview(
    page: Page, live_server: str, demo_network: DemoNetwork, problems: BrowserProblems,
    screenshot_dir: Path,
) -> None:
    assert _raw_ratios(demo_network.url) == KINDS
    sign_in_as(page, live_server, "analyst", demo_network.password,
               "/analytics/overview?region=130600")
    expect(page.locator("#overview-region")).to_contain_text("保定")
    expect(page.locator("#overview-period")).to_contain_text("2025-01")
    for kind, shown in KINDS.items():
        expect(page.locator(f"#ratio-BCH-BD-{kind}")).to_have_text(shown)
    ratios = page.locator("#ratios-chart")
    expect(ratios).to_have_attribute("data-rendered", str(
        page.locator("#ratios-table tbody tr[data-x]").count()))
    expect(ratios.locator("canvas")).to_have_count(1)
    expect(page.locator("#outflow-chart canvas")).to_have_count(1)

    # The volume table as a workbook: the same three ratios for the children's hospital.
    with page.expect_download() as download:
        page.locator("#volumes-xlsx").click()
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes())).active
    assert sheet is not None
    lines = list(sheet.iter_rows(values_only=True))
    column = {str(name).split(" ")[-1]: index for index, name in enumerate(lines[0])}
    in_file = {line[column["kind"]]: f"{Decimal(str(line[column['ratio']])):.2f}×"
               for line in lines[1:] if line[column["institution_code"]] == "BCH-BD"}
    assert {kind: in_file[kind] for kind in KINDS} == KINDS

    # The Guang'anmen partnership's outflow: Baoding-insured admissions treated outside
    # Baoding, a month, 2025 against the year before the partnership.
    page.locator("#filter-agreement").select_option(label=page.locator(
        "#filter-agreement option", has_text="QY-2022-02").inner_text())
    page.locator("#filter-agreement").evaluate("select => select.form.requestSubmit()")
    expect(page.locator("#outflow-agreement")).to_have_text("QY-2022-02")
    expect(page.locator("#outflow-change")).to_have_text("-60.0%")
    before, after = (Decimal(part) for part in
                     page.locator("#outflow-per-month").inner_text().split(" → "))
    assert after < before  # rounded to a tenth a month; the change uses the exact means
    expect(page.locator("#outflow-chart canvas")).to_have_count(1)

    # This year's referral flows: the demo's referrals are recent.
    page.locator("input[name=from]").fill("2026-01")
    page.locator("input[name=to]").fill("2026-11")
    page.locator("#filter-agreement").select_option("")
    page.locator("#filter-agreement").evaluate("select => select.form.requestSubmit()")
    expect(page.locator("#overview-period")).to_contain_text("2026-01")
    expect(page.locator("#referrals-chart canvas")).to_have_count(1)
    flows = page.locator("#referral-flows-table tbody tr")
    assert flows.count() >= 1 and not flows.first.locator(".empty").count()
    shown = sum(int(page.locator(f"#referrals-{key}").inner_text())
                for key in ("up", "down", "lateral"))
    in_flows = sum(int(cell) for cell in page.locator(
        "#referral-flows-table tbody td.num").all_inner_texts())
    assert shown >= in_flows > 0  # the table lists the 20 largest flows

    # The agreement network from the overview's link.
    page.locator("#network-link").click()
    chart = page.locator("#network-chart")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator("#network-edges tr[data-agreement='TG-2015-01']")).to_have_count(1)
    assert int(chart.get_attribute("data-rendered-edges") or 0) >= 1
    page.screenshot(path=str(screenshot_dir / "analytics-network.png"), full_page=True)
    assert problems.messages == []
