"""The operators' tests: the app as a browser at http://localhost sees it (in process), a real SMTP server for
the sign-in links, and a real OIDC provider on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.operators import create_operator
from app.core.db import unit_of_work

from ..notifications.smtp_server import SmtpServer, smtp_settings
from .oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, running_oidc_provider

BASE = "http://localhost"


@pytest.fixture(scope="session")
def _idp() -> Iterator[OidcProvider]:
    with running_oidc_provider() as provider:
        yield provider


@pytest.fixture
def idp(_idp: OidcProvider) -> OidcProvider:
    _idp.person = None
    _idp.wrong_nonce = False
    _idp.down = False
    _idp.discovery_requests = 0
    _idp.codes.clear()
    _idp.token_requests.clear()
    return _idp


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer, idp: OidcProvider) -> dict[str, Any]:
    return {
        **smtp_settings(smtp_server.port),
        "public_base_url": BASE,
        "oidc_issuer": idp.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
    }


def browser_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client that reaches the app at http://localhost in process, and anything else (the identity
    provider) over the network, with one cookie jar, as a browser does."""
    transport = httpx.ASGITransport(app=app, client=(address, 123))
    return httpx.AsyncClient(mounts={BASE: transport}, base_url=BASE, timeout=10)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_of(app) as client:
        yield client


async def add_operator(app: FastAPI, email: str, name: str, role: str = "operator") -> None:
    async with unit_of_work(app.state.sessionmaker) as session:
        await create_operator(session, email=email, name=name, role=role)


def hidden_token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, html
    return unescape(match.group(1))


async def request_link(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer, email: str, **headers: str
) -> str | None:
    """Ask for a sign-in link as the form does; the link from the email that arrived, or None when none did."""
    before = len(smtp_server.messages)
    response = await browser.post("/cockpit/sign-in", data={"email": email}, headers=headers)
    assert response.status_code == 200, response.text
    await app.state.worker.run_until_idle()
    if len(smtp_server.messages) == before:
        return None
    message = smtp_server.messages[-1]
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"(http://localhost/cockpit/sign-in/link\?token=\S+)", str(body.get_content()))
    assert match, body
    return match.group(1)


async def sign_in(browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer, email: str) -> str:
    """Sign in by email link, as a person does: ask, open the link, press Sign in. The CSRF token."""
    link = await request_link(browser, app, smtp_server, email)
    assert link is not None
    page = await browser.get(link)
    assert page.status_code == 200
    done = await browser.post("/cockpit/sign-in/link", data={"token": hidden_token(page.text)})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/cockpit"
    return await csrf_of(browser)


async def csrf_of(browser: httpx.AsyncClient) -> str:
    who = await browser.get("/cockpit/session")
    assert who.status_code == 200, who.text
    token: str = who.json()["csrf_token"]
    return token
