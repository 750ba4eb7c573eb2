"""The console's pages over HTTP: signed out -> the sign-in page; signed in -> each screen in English and German,
with a strict Content-Security-Policy, no framing, and the CSRF token for the page's script."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.auth import operators, sessions
from app.core import clock
from app.core.db import unit_of_work

from ..conftest import bearer
from ..english import english_words_in
from ..helpers import submit

PAGES = ["/cockpit", "/cockpit/intake", "/cockpit/dashboard"]


async def sign_in(app: FastAPI, client: httpx.AsyncClient, *, email: str = "ada@brand.test") -> str:
    """A session for a new operator, its cookie set on ``client``; the session's CSRF token."""
    async with unit_of_work(app.state.sessionmaker) as session:
        operator = await operators.create_operator(session, email=email, name="Ada Lovelace", role="operator")
        value, row = await sessions.start(session, app.state.ctx.settings, operator)
    client.cookies.set(sessions.COOKIE, value)
    return row.csrf_token


@pytest.fixture
async def csrf(app: FastAPI, client: httpx.AsyncClient) -> str:
    return await sign_in(app, client)


@pytest.mark.parametrize("path", [*PAGES, "/cockpit/requests/x", "/cockpit/customers/c-1"])
async def test_signed_out_goes_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, params={"status": "pending"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/cockpit/sign-in?next=")
    assert "%2Fcockpit" in location


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_locked_down(client: httpx.AsyncClient, csrf: str, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert f'<meta name="csrf-token" content="{csrf}">' in page
    assert "<script>" not in page
    assert " on" + "click=" not in page
    assert re.findall(r'<script[^>]*src="([^"]+)"', page) == ["/cockpit/static/cockpit.js"]
    assert "Ada Lovelace" in page


async def test_assets_are_served(client: httpx.AsyncClient) -> None:
    script = await client.get("/cockpit/static/cockpit.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "X-CSRF-Token" in script.text
    style = await client.get("/cockpit/static/cockpit.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert (await client.get("/cockpit/static/..%2Fcockpit%2Frouter.py")).status_code == 404
    assert (await client.get("/cockpit/static/other.js")).status_code == 404


async def test_the_list_shows_requests_and_their_filters(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    first = await submit(client, keys["app"], type="access", email="bob@example.com")
    await submit(client, keys["app"], type="deletion", email="cy@example.com")
    page = (await client.get("/cockpit")).text
    assert f'href="/cockpit/requests/{first["id"]}"' in page
    assert "bob@example.com" in page
    assert "cy@example.com" in page
    assert "Pending" in page
    assert "Unverified" in page
    searched = (await client.get("/cockpit", params={"q": "bob@", "type": "access"})).text
    assert "bob@example.com" in searched
    assert "cy@example.com" not in searched
    # The export link and the bulk actions carry the same filters to the API.
    assert 'href="/v1/privacy-requests/export.csv?type=access&amp;q=bob%40"' in searched
    assert 'data-query="type=access&amp;q=bob%40"' in searched
    # A bad date is named, not a 500, and the rest of the filters still apply.
    bad = await client.get("/cockpit", params={"received_from": "2026-02-31", "type": "deletion"})
    assert bad.status_code == 200
    assert "a date is not a valid day" in bad.text
    assert "cy@example.com" in bad.text
    assert "bob@example.com" not in bad.text
    # A damaged cursor starts again at the first page.
    damaged = await client.get("/cockpit", params={"cursor": "abc"})
    assert damaged.status_code == 200
    assert "the page address was out of date" in damaged.text


async def test_keyset_paging_goes_forward_and_back(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    for number in range(30):
        await submit(client, keys["app"], type="access", email=f"p{number:02d}@example.com")
    first = (await client.get("/cockpit")).text
    assert "p29@example.com" in first
    assert "p04@example.com" not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first)
    assert next_link is not None
    assert 'rel="prev"' not in first
    second = (await client.get(next_link.group(1).replace("&amp;", "&"))).text
    assert "p04@example.com" in second
    assert "p29@example.com" not in second
    assert 'rel="next"' not in second
    back = re.search(r'rel="prev" href="([^"]+)"', second)
    assert back is not None
    assert back.group(1) == "/cockpit"


async def test_a_request_page_shows_details_actions_and_timeline(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    created = await submit(client, keys["app"], type="access", email="bob@example.com", channel="web")
    page = (await client.get(f"/cockpit/requests/{created['id']}")).text
    assert "Access request: bob@example.com" in page
    assert f'data-path="/v1/privacy-requests/{created["id"]}/accept"' in page
    assert f'href="/v1/privacy-requests/{created["id"]}/data?format=zip"' in page
    assert "by app-key" in page
    assert "via web" in page
    assert "/fulfil" not in page  # not possible while pending
    missing = await client.get("/cockpit/requests/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert "Not found" in missing.text
    assert (await client.get("/cockpit/requests/not-a-uuid")).status_code == 404


async def test_the_customer_page(client: httpx.AsyncClient, csrf: str, keys: dict[str, str]) -> None:
    recorded = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "customer_id": "cus_1", "note": "letter"},
        headers=bearer(keys["operator"]),
    )
    assert recorded.status_code == 201
    page = await client.get("/cockpit/customers/cus_1")
    assert page.status_code == 200
    assert "Customer: Ada Lovelace" in page.text
    assert "ada@example.com" in page.text
    assert f'href="/cockpit/requests/{recorded.json()["id"]}"' in page.text
    assert (await client.get("/cockpit/customers/nobody")).status_code == 404


async def test_german(client: httpx.AsyncClient, csrf: str, keys: dict[str, str]) -> None:
    created = await submit(client, keys["app"], type="deletion", email="bob@example.com")
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    for path in [*PAGES, f"/cockpit/requests/{created['id']}"]:
        response = await client.get(path, headers=german)
        assert response.status_code == 200
        assert '<html lang="de">' in response.text
        text = _visible(response.text).replace("Ada Lovelace", "")
        assert english_words_in(text) == [], path
    # The switch overrides the browser, on this site's pages only.
    switched = await client.get("/cockpit/language", params={"lang": "en", "next": "/cockpit/intake"})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/cockpit/intake"
    assert '<html lang="en">' in (await client.get("/cockpit/intake", headers=german)).text
    elsewhere = await client.get("/cockpit/language", params={"lang": "de", "next": "https://evil.test/"})
    assert elsewhere.headers["location"] == "/cockpit"
    scheme_relative = await client.get(
        "/cockpit/language", params={"lang": "de", "next": "//evil.test/cockpit"}
    )
    assert scheme_relative.headers["location"] == "/cockpit"


def _visible(page: str) -> str:
    """The text a person reads, less what is not the console's own words: addresses, ids, the names of the
    languages, and a timeline entry's detail (the service's record, kept as it was written)."""
    page = re.sub(r'<span class="detail">.*?</span>', " ", page)
    page = re.sub(r"<template[^>]*>", " ", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"[0-9a-f-]{36}|\S+@\S+|English", " ", page)


async def test_the_api_takes_the_session_with_its_csrf_token_only(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    created = await submit(client, keys["app"], type="access", email="bob@example.com")
    accept = f"/v1/privacy-requests/{created['id']}/accept"
    body = {"handling": "automatic"}
    assert (await client.post(accept, json=body)).status_code == 403  # no token
    wrong = await client.post(accept, json=body, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    elsewhere = await client.post(
        accept, json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
    )
    assert elsewhere.status_code == 403
    assert (await client.get(f"/v1/privacy-requests/{created['id']}")).json()["status"] == "pending"
    done = await client.post(accept, json=body, headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert done.status_code == 200
    assert done.json()["status"] == "in_progress"
    events = (await client.get(f"/v1/privacy-requests/{created['id']}")).json()["events"]
    assert events[-1]["actor"] == "Ada Lovelace <ada@brand.test>"


async def test_due_soonest_is_the_open_work_overdue_first(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    clock.advance(timedelta(days=-40))
    late = await submit(client, keys["app"], type="access", email="late@example.com")
    closed = await submit(client, keys["app"], type="access", email="closed@example.com")
    dismissed = await client.delete(
        f"/v1/privacy-requests/{closed['id']}",
        params={"reason": "duplicate", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200
    clock.reset()
    fresh = await submit(client, keys["app"], type="access", email="fresh@example.com")
    page = (await client.get("/cockpit", params={"sort": "due_at"})).text
    order = re.findall(r'href="/cockpit/requests/([^"]+)"', page)
    assert order == [late["id"], fresh["id"]]
    assert re.search(r"Overdue by 1[01] days", page)
    assert "29 days left" in page
    # The open statuses are the ones ticked, so the person sees why closed requests are not listed.
    for status in ("unverified", "pending", "in_progress", "failed"):
        assert f'value="{status}" checked' in page
