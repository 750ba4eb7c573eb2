"""The session cookie: its flags, CSRF on every change, sign-out, removal and SESSION_TTL end it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.sessions import cookie_is_secure
from app.core import clock
from app.core.config import Settings

from ..conftest import bearer, make_settings
from ..helpers import submit
from ..notifications.smtp_server import SmtpServer
from ..test_cli import run
from .conftest import add_operator, sign_in


@pytest.fixture
async def signed_in(browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer) -> str:
    """Grace Hopper (operator) signed in in ``browser``; the CSRF token."""
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    return await sign_in(browser, app, smtp_server, "grace@brand.test")


async def test_the_cookie_is_httponly_strict_and_lives_session_ttl(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    from .conftest import hidden_token, request_link

    link = await request_link(browser, app, smtp_server, "grace@brand.test")
    assert link is not None
    done = await browser.post(
        "/cockpit/sign-in/link", data={"token": hidden_token((await browser.get(link)).text)}
    )
    cookie = done.headers["set-cookie"]
    assert cookie.startswith("prs_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "max-age=28800" in cookie.lower()  # SESSION_TTL's default, PT8H
    assert "secure" not in attributes  # http://localhost: a browser would drop a Secure cookie


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        ("https://privacy.brand.test", True),
        ("http://privacy.brand.test", True),
        ("http://localhost:8000", False),
        ("http://127.0.0.1:8000", False),
    ],
)
def test_the_cookie_is_secure_outside_localhost(tmp_path: Path, base_url: str, secure: bool) -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///x.db", tmp_path, tmp_path / "s.yaml", public_base_url=base_url
    )
    assert cookie_is_secure(settings) is secure


async def test_changes_need_the_csrf_token(
    browser: httpx.AsyncClient, signed_in: str, app: FastAPI, keys: dict[str, str]
) -> None:
    request = await submit(browser, keys["app"], type="access", email="ada@example.com")
    url = f"/v1/privacy-requests/{request['id']}/extend"
    body = {"reason": "The data is spread over many systems."}
    # Reading needs no token.
    assert (await browser.get(f"/v1/privacy-requests/{request['id']}")).status_code == 200
    without = await browser.post(url, json=body)
    assert without.status_code == 403
    assert without.json() == {
        "error": "forbidden",
        "detail": "A signed-in change needs the 'X-CSRF-Token' header with the session's CSRF token.",
    }
    wrong = await browser.post(url, json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    # Another site's page, even one that somehow had the token, is refused by its Origin.
    foreign = await browser.post(
        url, json=body, headers={"X-CSRF-Token": signed_in, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert (
        foreign.json()["detail"] == "This request comes from another site (its Origin is not this service's)."
    )
    done = await browser.post(
        url, json=body, headers={"X-CSRF-Token": signed_in, "Origin": "http://localhost"}
    )
    assert done.status_code == 200, done.text


async def test_the_timeline_names_the_signed_in_person(
    browser: httpx.AsyncClient, signed_in: str, keys: dict[str, str]
) -> None:
    request = await submit(browser, keys["app"], type="access", email="ada@example.com")
    extended = await browser.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "The data is spread over many systems."},
        headers={"X-CSRF-Token": signed_in},
    )
    assert extended.status_code == 200, extended.text
    detail = await browser.get(f"/v1/privacy-requests/{request['id']}", headers=bearer(keys["operator"]))
    actors = [event["actor"] for event in detail.json()["events"] if event["action"] == "extended"]
    assert actors == ["Grace Hopper <grace@brand.test>"]


async def test_sign_out_ends_the_session(browser: httpx.AsyncClient, signed_in: str) -> None:
    cookie = browser.cookies["prs_session"]
    refused = await browser.post("/cockpit/sign-out")
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    out = await browser.post("/cockpit/sign-out", data={"csrf_token": signed_in})
    assert out.status_code == 303
    assert out.headers["location"] == "/cockpit/sign-in?signed_out=1"
    assert "prs_session" not in browser.cookies
    page = await browser.get("/cockpit/sign-in?signed_out=1")
    assert "You are signed out." in page.text
    # The old cookie, replayed, is worth nothing.
    browser.cookies.set("prs_session", cookie, domain="localhost.local")
    assert (await browser.get("/cockpit/session")).status_code == 401
    stale = await browser.get("/v1/stats")
    assert stale.status_code == 401
    assert stale.json()["error"] == "unauthorized"


async def test_removal_ends_the_session_at_once(
    browser: httpx.AsyncClient, signed_in: str, database_url: str, tmp_path: Path
) -> None:
    assert (await browser.get("/v1/stats")).status_code == 200
    removed = run(["operators", "remove", "--email", "grace@brand.test"], tmp_path, DATABASE_URL=database_url)
    assert removed.returncode == 0, removed.stderr
    assert "1 session(s) ended" in removed.stdout
    assert (await browser.get("/v1/stats")).status_code == 401
    assert (await browser.get("/cockpit/session")).status_code == 401


async def test_the_session_expires_after_session_ttl(browser: httpx.AsyncClient, signed_in: str) -> None:
    assert (await browser.get("/v1/stats")).status_code == 200
    clock.advance(timedelta(hours=7, minutes=59))
    assert (await browser.get("/v1/stats")).status_code == 200
    clock.advance(timedelta(minutes=2))
    expired = await browser.get("/v1/stats")
    assert expired.status_code == 401
    assert expired.json()["detail"] == "The session has ended or expired: sign in again at /cockpit/sign-in."


class TestShortTtl:
    @pytest.fixture
    def settings_overrides(self, settings_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**settings_overrides, "session_ttl": "PT30M"}

    async def test_session_ttl_is_read_from_the_settings(
        self, browser: httpx.AsyncClient, signed_in: str, settings: Settings
    ) -> None:
        assert settings.session_ttl == timedelta(minutes=30)
        clock.advance(timedelta(minutes=31))
        assert (await browser.get("/v1/stats")).status_code == 401
