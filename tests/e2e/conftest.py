"""Browser tests: a live Yilian server in a thread, driven by Debian's Chromium.

Playwright drives the system Chromium (``/usr/bin/chromium``); its own browser downloads
are never used. Without Chromium the tests skip, unless ``YILIAN_TEST_REQUIRE_BROWSER=1``
asks for a failure instead. Screenshots go to ``YILIAN_E2E_SCREENSHOTS`` when it is set.
The server runs on a copy of the demo network (``yilian.demo.load``), loaded once per
database backend and copied for each module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from tests.conftest import DEMO_PASSWORD, TEST_FIELD_KEY, DemoTemplate, demo_copy
from tests.live import serve
from yilian.app import create_app
from yilian.config import Settings
from yilian.db import make_engine, make_sessionmaker
from yilian.registry import service as registry

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("YILIAN_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=900)
DEMO_ADMIN = "admin"

def _browser_missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver, once per test session."""
    reason = _browser_missing_reason()
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(reason + " and YILIAN_TEST_REQUIRE_BROWSER=1")
        pytest.skip(reason + " (set YILIAN_TEST_REQUIRE_BROWSER=1 to fail instead)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@dataclass
class BrowserProblems:
    """Console errors and uncaught exceptions a page produced (CSP violations show here)."""

    messages: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.messages.append(f"page error: {error}")


@pytest.fixture
def problems() -> BrowserProblems:
    """What went wrong in the browser during a test; tests assert it stays empty."""
    return BrowserProblems()


@pytest.fixture
def page(browser: Browser, problems: BrowserProblems) -> Iterator[Page]:
    """A fresh browser context (no cookies) at desktop size."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.on("console", problems.on_console)
    tab.on("pageerror", problems.on_page_error)
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are written."""
    configured = os.environ.get("YILIAN_E2E_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class DemoNetwork:
    """What the browser tests need to know about the demo data they run on."""

    url: str
    username: str
    password: str
    hebei_level3_codes: set[str]


def _hebei_level3(url: str) -> set[str]:
    """The codes of Hebei's level-3 institutions in the demo database."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            hebei, _ = registry.list_institutions(
                session, where=registry.InstitutionFilter(region_code="130000", level=3),
                limit=1000,
            )
            return {institution.code for institution in hebei}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def demo_network(
    demo_template: DemoTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoNetwork]:
    """A copy of the demo network on the test's backend, shared by a module's tests.

    The demo is loaded once per backend (see ``demo_template``); each module gets a copy of
    its own, so what one module's tests change never reaches another's.
    """
    with demo_copy(demo_template, tmp_path_factory, "e2e") as url:
        yield DemoNetwork(url, DEMO_ADMIN, DEMO_PASSWORD, _hebei_level3(url))


@pytest.fixture(scope="module")
def live_server(
    demo_network: DemoNetwork, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Yilian server on the demo database and a free loopback port; its base URL."""
    settings = Settings(
        database_url=demo_network.url,
        secret_key="e2e-secret-key-not-for-production-0123456789",
        secret_file=tmp_path_factory.mktemp("secret") / "unused.secret",
        field_key=TEST_FIELD_KEY,
        log_json=True,
        log_level="WARNING",
    )
    app = create_app(settings)
    try:
        with serve(app) as base:
            yield base
    finally:
        app.state.engine.dispose()
