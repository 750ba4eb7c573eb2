"""/docs and /redoc work with no network: every asset comes from the service, and the CSP allows nothing else."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.main import create_app

from .conftest import make_settings
from .security.live_server import live_server
from .security.test_browser import CHROMIUM, CHROMIUM_ARGS

EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    """Every URL a page loads: scripts, styles, icons, images, and ReDoc's spec-url."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value is not None:
                self.urls.append(value)


def _references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_docs_page_loads_only_the_services_own_assets(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = _references(response.text)
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme, f"{url} is not local"
        assert not parts.netloc, f"{url} is not local"
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = Path(parts.path).suffix
        if suffix in EXPECTED_TYPES:
            assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
            assert len(asset.content) > 0
        else:
            assert url == "/openapi.json"
            assert asset.json()["openapi"].startswith("3.")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    for elsewhere in ("http", "*", "unsafe-eval"):
        assert elsewhere not in csp


async def test_an_unknown_asset_is_a_404_with_the_error_body(client: httpx.AsyncClient) -> None:
    for name in ("nothing.js", "..%2Fmain.py", "%2E%2E%2F%2E%2E%2Fpyproject.toml"):
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (CI installs it)")
def test_the_docs_render_in_a_browser_with_no_network(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    application = create_app(make_settings(database_url, tmp_path, sources_file), run_worker=False)
    with live_server(application) as server:
        document = httpx.get(f"{server.base_url}/openapi.json").json()
        operations = sum(len(methods) for methods in document["paths"].values())
        summaries = [op["summary"] for methods in document["paths"].values() for op in methods.values()]
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                elsewhere: list[str] = []

                def only_this_server(route: object) -> None:
                    request = route.request  # type: ignore[attr-defined]
                    if request.url.startswith(server.base_url):
                        route.continue_()  # type: ignore[attr-defined]
                    else:  # no network: anything else fails, as it would offline
                        elsewhere.append(request.url)
                        route.abort()  # type: ignore[attr-defined]

                page.route("**/*", only_this_server)
                problems: list[str] = []
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: problems.append(str(error)))

                page.goto(f"{server.base_url}/docs")
                page.wait_for_selector(".opblock-summary", timeout=30_000)
                assert page.locator(".opblock").count() == operations
                assert page.title() == "Privacy Requests - API reference (Swagger UI)"
                shown = page.inner_text("#swagger-ui")
                assert summaries[0] in shown

                page.goto(f"{server.base_url}/redoc")
                page.wait_for_selector("h2", timeout=30_000)
                text = page.inner_text("body")
                assert "Submit a privacy request" in text
                assert json.dumps(summaries)  # every summary is a string
                assert all(summary in text for summary in summaries)
                assert elsewhere == [], "the docs must not need the network"
                # ReDoc's sidebar tries its vendor's logo from a CDN and hides it when it does not load: the CSP
                # blocks it (nothing leaves the machine). Anything else blocked, or any script error, fails.
                logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
                assert [p for p in problems if logo not in p] == [], (
                    "nothing blocked by the CSP, no script error"
                )
            finally:
                browser.close()
