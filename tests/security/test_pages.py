"""The customer's pages escape everything they show and send strict security headers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..factories import write_crm
from ..helpers import mailbox
from .flows import VERIFY_LINK, deletion_with_token

SCRIPT = '<script>alert("owned")</script>'
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
# The email syntax refuses < > " ' ;, so a hostile address plays with & and template syntax instead.
HOSTILE_EMAIL = "a&b{{7*7}}${7*7}@example.org"


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    """The CRM, with an operator-written purpose and retention that are hostile HTML."""
    path = write_crm(tmp_path / "crm")
    text = path.read_text()
    text = text.replace("purpose: Customer account", f"purpose: '{SCRIPT}'")
    text = text.replace("retention: Invoices are kept 10 years for tax law", f"retention: '{ATTRIBUTE}'")
    text = text.replace("erase: {anonymize: {shipping_address: redact}}", "erase: keep")
    path.write_text(text)
    return path


def assert_strict_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    csp = {d.strip().split(" ")[0]: d.strip() for d in headers["Content-Security-Policy"].split(";")}
    assert csp["default-src"] == "default-src 'none'"
    assert "script-src" not in csp, "no script may run on these pages"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["form-action"] == "form-action 'self'"
    assert csp["base-uri"] == "base-uri 'none'"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "no-store" in headers["Cache-Control"]


def assert_escaped(html: str) -> None:
    assert "<script" not in html
    assert "<img" not in html
    assert "onerror=alert" not in html or "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_verify_and_verified_pages_escape_everything(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    _request, token = await deletion_with_token(client, app, keys, email=HOSTILE_EMAIL)
    page = await client.get("/v1/verify", params={"token": token})
    assert page.status_code == 200
    assert_strict_headers(page)
    assert_escaped(page.text)
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    # The address is shown as the customer typed it: '&' escaped once, the template syntax inert.
    assert "a&amp;b{{7*7}}${7*7}@example.org" in page.text

    confirmed = await client.post("/v1/verify", data={"token": token})
    assert confirmed.status_code == 200
    assert_strict_headers(confirmed)
    assert_escaped(confirmed.text)
    assert "a&amp;b{{7*7}}${7*7}@example.org" in confirmed.text


async def test_the_confirmation_email_escapes_its_html_part(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await deletion_with_token(client, app, keys, email=HOSTILE_EMAIL)
    [message] = mailbox(app.state.ctx.settings.mail_dir)
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert_escaped(html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "a&amp;b{{7*7}}" in html
    assert VERIFY_LINK.search(html)


@pytest.mark.parametrize("accept_language", ["en", "de-DE,de;q=0.9", "<script>"])
async def test_refusal_pages_send_the_same_headers(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], accept_language: str
) -> None:
    headers = {"Accept-Language": accept_language}
    _request, token = await deletion_with_token(client, app, keys)
    unknown = "A" * 43
    for response in (
        await client.get("/v1/verify", params={"token": unknown}, headers=headers),
        await client.post("/v1/verify", data={"token": unknown}, headers=headers),
    ):
        assert response.status_code == 404
        assert_strict_headers(response)
        assert_escaped(response.text)
    clock.advance(app.state.ctx.settings.verification_ttl + timedelta(seconds=1))
    for response in (
        await client.get("/v1/verify", params={"token": token}, headers=headers),
        await client.post("/v1/verify", data={"token": token}, headers=headers),
    ):
        assert response.status_code == 410
        assert_strict_headers(response)
        assert_escaped(response.text)


async def test_pages_cannot_be_framed_or_cached_and_do_not_leak_the_token(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    _request, token = await deletion_with_token(client, app, keys)
    page = await client.get("/v1/verify", params={"token": token})
    assert '<meta name="referrer" content="no-referrer">' in page.text
    # The token is only in the form's hidden field: never in a link or a resource a browser would fetch.
    assert page.text.count(token) == 1
    assert f'name="token" value="{token}"' in page.text


@pytest.mark.parametrize("accept_language", ["de-DE,de;q=0.9", "<script>", "q=;;,,de;q=2"])
async def test_download_link_pages_send_the_same_headers(
    client: httpx.AsyncClient, accept_language: str
) -> None:
    headers = {"Accept": "text/html", "Accept-Language": accept_language}
    for token in ("A" * 43, "not-a-token", "<script>alert(1)<script>", "a&b{{7*7}}"):
        response = await client.get(f"/v1/downloads/{token}", headers=headers)
        assert response.status_code == 404
        assert_strict_headers(response)
        assert_escaped(response.text)
        assert token not in response.text  # the link's secret is never echoed
