"""The page frame: home pages per role, languages, error pages, security headers."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import Network, sign_in


class InlineCodeFinder(HTMLParser):
    """Collects everything in a page that the CSP would block as inline code or style."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.problems.append("<style> block")
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if "style" in names:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems += [f"{name} handler on <{tag}>" for name in names if name.startswith("on")]
        self.problems += [f"{name} on <{tag}>" for name in names if name.startswith("hx-on")]
        for name, value in attrs:
            if name in ("href", "src", "action") and (value or "").startswith(("http:", "https:",
                                                                                "//")):
                self.problems.append(f"external {name} on <{tag}>: {value}")


def inline_code(html: str) -> list[str]:
    finder = InlineCodeFinder()
    finder.feed(html)
    return finder.problems


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("admin", ["协作网络概况", "平台管理员", "API 文档", "导出机构（CSV）"]),
        ("analyst", ["网络总览", "按省份", "河北省", "专科联盟", "卫健委分析员"]),
        ("hladmin", ["北京大学人民医院怀来院区", "医院管理员", "心血管内科", "/edit", "托管"]),
        ("bjadmin", ["下属院区", "北京大学人民医院怀来院区"]),
        ("doctor", ["北京大学人民医院怀来院区", "临床医生", "心血管内科", "机构名录"]),
        ("clerk", ["保定市儿童医院", "医保结算员", "机构名录"]),
        ("patient", ["竞秀区乡镇卫生院", "患者", "机构名录"]),
    ],
)
def test_each_role_gets_its_home_page(
    client: TestClient, network: Network, username: str, expected: list[str]
) -> None:
    sign_in(client, username)

    page = client.get("/")

    assert page.status_code == 200
    for text in expected:
        assert text in page.text, text


def test_only_administrators_see_edit_links_and_patients_no_agreements(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "doctor")
    assert "/edit" not in client.get("/").text
    sign_in(client, "patient")
    assert 'href="/registry/agreements"' not in client.get("/").text


def test_header_shows_user_role_and_institution(client: TestClient, network: Network) -> None:
    sign_in(client, "hladmin")

    page = client.get("/registry/agreements").text

    assert "hladmin" in page
    assert "医院管理员" in page
    assert f'href="/registry/institutions/{network.huailai.id}"' in page
    assert 'name="csrf_token"' in page  # the logout form


def test_pages_are_chinese_by_default_and_english_on_request(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "admin")

    chinese = client.get("/registry/institutions")
    assert '<html lang="zh-CN"' in chinese.text
    assert "机构名录" in chinese.text
    assert "三级甲等" in chinese.text
    assert "胸痛中心" in chinese.text

    english = client.get("/registry/institutions?lang=en")
    assert '<html lang="en"' in english.text
    assert "Institution directory" in english.text
    assert "Level 3, Grade A" in english.text
    assert "Chest pain centre" in english.text
    assert "机构名录" not in english.text

    # the choice sticks (cookie) until switched back
    assert "The network" in client.get("/").text
    assert "协作网络概况" in client.get("/?lang=zh").text


def test_language_links_keep_the_current_filters(client: TestClient, network: Network) -> None:
    sign_in(client, "admin")

    page = client.get("/registry/institutions?level=3").text

    assert 'href="/registry/institutions?level=3&amp;lang=en"' in page


def test_unknown_url_gives_the_404_page(client: TestClient, network: Network) -> None:
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "页面不存在" in response.text


def test_unknown_institution_gives_the_404_page_in_english(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "admin")

    response = client.get("/registry/institutions/99999?lang=en")

    assert response.status_code == 404
    assert "Institution not found: 99999" in response.text
    assert "Not found" in response.text


def test_server_error_page_shows_the_request_id_and_no_traceback(
    app: FastAPI, network: Network
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/explode", explode)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode", headers={"X-Request-ID": "req-12345"})

    assert response.status_code == 500
    assert "req-12345" in response.text
    assert "系统出错了" in response.text
    assert "Traceback" not in response.text
    assert "secret internal detail" not in response.text


def test_csp_header_is_sent_and_pages_carry_no_inline_code(
    client: TestClient, network: Network
) -> None:
    sign_in(client, "hladmin")
    urls = [
        "/",
        "/registry/institutions",
        f"/registry/institutions/{network.huailai.id}",
        "/registry/agreements",
        "/registry/agreements?lang=en",
        f"/registry/departments/{network.huailai_cardiology.id}/edit",
        "/no/such/page",
    ]
    for url in urls:
        response = client.get(url)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert inline_code(response.text) == [], url
    assert inline_code(client.get("/login").text) == []


def test_htmx_is_configured_not_to_inject_its_indicator_style(
    client: TestClient, network: Network
) -> None:
    page = client.get("/login").text

    assert '"includeIndicatorStyles": false' in page
    assert '<script src="/static/vendor/htmx/htmx.min.js"' in page
    assert client.get("/static/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/static/vendor/pico/pico.min.css").status_code == 200
    assert client.get("/static/css/yilian.css").status_code == 200
