"""The console's pages over HTTP: signed out -> the sign-in page; signed in -> each screen in English and German,
with a strict Content-Security-Policy, no framing, and the CSRF token for the page's script."""

from __future__ import annotations

import re
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from app.auth import operators, sessions
from app.core import clock
from app.core.db import unit_of_work
from app.core.i18n import format_datetime

from ..conftest import bearer
from ..english import english_words_in
from ..helpers import submit
from ..processing.world import work
from ..webhooks.conftest import SHORT_SCHEDULE, deliveries, subscribe
from ..webhooks.receiver import Receiver, running_receiver

PAGES = ["/cockpit", "/cockpit/intake", "/cockpit/dashboard"]


async def sign_in(
    app: FastAPI, client: httpx.AsyncClient, *, email: str = "ada@brand.test", role: str = "operator"
) -> str:
    """A session for a new operator (of ``role``), its cookie set on ``client``; the session's CSRF token."""
    async with unit_of_work(app.state.sessionmaker) as session:
        operator = await operators.create_operator(session, email=email, name="Ada Lovelace", role=role)
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


async def test_unknown_filter_values_are_named_and_the_bulk_actions_withheld(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    await submit(client, keys["app"], type="access", email="bob@example.com")
    # A filtered view that is exactly what was asked for offers the bulk actions with its filters.
    good = (await client.get("/cockpit", params={"status": "pending"})).text
    assert 'data-query="status=pending"' in good
    assert "Some filters could not be used" not in good
    # Each unknown value is named; the bulk forms are not offered, since the selection would be wider.
    for params, words in (
        ({"status": "pendng"}, "a status is not one of those the list knows."),
        ({"status": ["pending", "pendng"]}, "a status is not one of those the list knows."),
        ({"type": "acess", "status": "pending"}, "the type is neither access nor deletion."),
        ({"overdue": "yes", "status": "pending"}, "the deadline choice is not one the list knows."),
        ({"sort": "email", "status": "pending"}, "the order is not one the list knows"),
        ({"received_from": "2026-02-31", "status": "pending"}, "a date is not a valid day"),
    ):
        page = await client.get("/cockpit", params=params)
        assert page.status_code == 200
        assert "Some filters could not be used and were left out:" in page.text, params
        assert words in page.text, params
        assert "js-bulk" not in page.text, params
        assert "data-query=" not in page.text, params
        assert "Correct the filters above first" in page.text, params
    # The whole list (no filter) offers no bulk action either.
    whole = (await client.get("/cockpit")).text
    assert "js-bulk" not in whole
    assert "Choose at least one filter first" in whole
    # In German too.
    german = await client.get(
        "/cockpit", params={"status": "pendng", "type": "x"}, headers={"Accept-Language": "de"}
    )
    assert "ein Status ist keiner, den die Liste kennt." in german.text
    assert "die Art ist weder Auskunft noch Löschung." in german.text
    assert "Berichtigen Sie zuerst die Filter oben" in german.text
    assert "js-bulk" not in german.text


PAYLOAD = "<img src=x onerror=alert(1)>"


async def test_what_people_typed_is_escaped_on_every_page(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str], sources_file: Path
) -> None:
    # The brand's directory holds a name with markup in it; an operator records a request by letter for that
    # customer, whose id has markup in it too.
    with sqlite3.connect(sources_file.parent / "crm.db") as crm:
        crm.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?)", (PAYLOAD, "mallory@example.com", PAYLOAD, "Doe")
        )
    recorded = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "customer_id": PAYLOAD, "email": "mallory@example.com", "note": PAYLOAD},
        headers=bearer(keys["operator"]),
    )
    assert recorded.status_code == 201, recorded.text
    pages = {
        "list": await client.get("/cockpit"),
        "search": await client.get("/cockpit", params={"q": PAYLOAD}),
        "request": await client.get(f"/cockpit/requests/{recorded.json()['id']}"),
        "customer": await client.get(f"/cockpit/customers/{quote(PAYLOAD, safe='')}"),
    }
    for name, page in pages.items():
        assert page.status_code == 200, name
        assert "&lt;img" in page.text, name
        assert "<img src=x" not in page.text, name
    assert "mallory@example.com" in pages["list"].text
    assert recorded.json()["id"] in pages["search"].text


# The webhook screens (admins only). Deliveries are made by the real worker to a real receiver on 127.0.0.1
# (tests/webhooks/receiver.py); a receiver that keeps failing is given up on within a second.
QUICK_WEBHOOKS = {**SHORT_SCHEDULE, "timezone": "Europe/Berlin"}


async def delivered_and_failed(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], receiver: Receiver
) -> tuple[dict[str, Any], str, str]:
    """A webhook with two deliveries: one the receiver took (204), then one it refused (503) until the
    worker gave up; the webhook, the delivered request's id and the failed one's."""
    hook = await subscribe(
        client, keys["admin"], receiver, ["request.received", "request.deleted"], description="CRM <clean-up>"
    )
    delivered = await submit(client, keys["app"], type="access", email="bob@example.com")
    await work(app)
    receiver.failing, receiver.fail_status = 1000, 503
    failed = await submit(client, keys["app"], type="access", email="cy@example.com")
    await work(app)
    assert receiver.forged == []
    return hook, delivered["id"], failed["id"]


@pytest.mark.parametrize("settings_overrides", [QUICK_WEBHOOKS])
async def test_an_admin_sees_the_webhooks_and_each_ones_deliveries_with_their_attempts(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await sign_in(app, client, role="admin")
    with running_receiver() as receiver:
        hook, delivered, failed = await delivered_and_failed(client, app, keys, receiver)

    listing = await client.get("/cockpit/webhooks")
    assert listing.status_code == 200
    assert '<a href="/cockpit/webhooks" aria-current="page">Webhooks</a>' in listing.text
    assert f'href="/cockpit/webhooks/{hook["id"]}"' in listing.text
    assert receiver.url in listing.text
    assert "<code>request.received</code>, <code>request.deleted</code>" in listing.text
    assert "CRM &lt;clean-up&gt;" in listing.text
    assert '<th scope="col">' in listing.text
    assert "<script>" not in listing.text

    page = await client.get(f"/cockpit/webhooks/{hook['id']}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    text = page.text
    assert "<h1>Webhook deliveries</h1>" in text
    assert 'aria-current="page">Webhooks</a>' in text
    assert "CRM &lt;clean-up&gt;" in text
    # Newest first: the failed delivery, then the delivered one, each linking to its request.
    assert re.findall(r'href="/cockpit/requests/([^"]+)"', text) == [failed, delivered]
    newest, oldest = text.split('href="/cockpit/requests/')[1:]
    assert '<span class="chip status-failed">Failed</span>' in newest
    assert '<span class="chip status-processed">Delivered</span>' in oldest
    assert "<code>request.received</code>" in newest
    # Every attempt: its time in the configured timezone, the receiver's status code and the error.
    items = (await deliveries(client, keys["admin"], hook["id"]))["items"]
    assert [item["status"] for item in items] == ["failed", "delivered"]
    refused, taken = items[0]["attempts"], items[1]["attempts"]
    assert len(refused) >= 2
    assert newest.count('HTTP 503 <span class="detail">(the receiver answered 503)</span>') == len(refused)
    assert [attempt["status_code"] for attempt in taken] == [204]
    assert "HTTP 204</li>" in oldest
    assert "HTTP 503" not in oldest
    for attempt in (refused[0], taken[0]):
        when = format_datetime(datetime.fromisoformat(attempt["at"]), "en", "Europe/Berlin")
        assert when.endswith(("CET", "CEST"))  # Europe/Berlin, not UTC
        assert f"{when}: HTTP {attempt['status_code']}" in text
    assert 'rel="next"' not in text
    assert "First page" not in text


@pytest.mark.parametrize("settings_overrides", [QUICK_WEBHOOKS])
async def test_the_webhook_screens_in_german(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await sign_in(app, client, role="admin")
    with running_receiver() as receiver:
        hook, _delivered, _failed = await delivered_and_failed(client, app, keys, receiver)
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    listing = await client.get("/cockpit/webhooks", headers=german)
    assert listing.status_code == 200
    assert '<html lang="de">' in listing.text
    for words in ("<h1>Webhooks</h1>", "Empfänger", "Ereignisse", "Beschreibung", "Angelegt"):
        assert words in listing.text, words
    page = await client.get(f"/cockpit/webhooks/{hook['id']}", headers=german)
    assert page.status_code == 200
    for words in (
        "<h1>Zustellungen eines Webhooks</h1>",
        "Versuche",
        "Ausgelöst",
        '<span class="chip status-failed">Fehlgeschlagen</span>',
        '<span class="chip status-processed">Zugestellt</span>',
        "Antrag anzeigen",
    ):
        assert words in page.text, words
    assert re.search(r" MES?Z: HTTP 503", page.text)
    for response in (listing, page):
        # The event types, the receiver's address and the service's record of an error are not translated.
        shown = re.sub(r"<code>.*?</code>", " ", response.text)
        assert english_words_in(_visible(shown).replace("Ada Lovelace", "")) == [], response.url


async def test_an_operator_who_is_not_an_admin_is_refused_the_webhook_screens(
    client: httpx.AsyncClient, csrf: str, keys: dict[str, str]
) -> None:
    created = await client.post(
        "/v1/webhooks",
        json={"url": "https://crm.example.org/hooks", "events": ["request.received"]},
        headers=bearer(keys["admin"]),
    )
    assert created.status_code == 201
    for path in (
        "/cockpit/webhooks",
        f"/cockpit/webhooks/{created.json()['id']}",
        f"/cockpit/webhooks/{uuid.uuid4()}",
    ):
        response = await client.get(path)
        assert response.status_code == 403, path
        assert "<h1>Not allowed</h1>" in response.text
        assert "crm.example.org" not in response.text
    german = await client.get("/cockpit/webhooks", headers={"Accept-Language": "de"})
    assert german.status_code == 403
    assert "<h1>Nicht erlaubt</h1>" in german.text
    # The menu offers the screen to admins only.
    assert 'href="/cockpit/webhooks"' not in (await client.get("/cockpit")).text


async def test_the_menu_offers_the_webhooks_to_an_admin(client: httpx.AsyncClient, app: FastAPI) -> None:
    await sign_in(app, client, role="admin")
    page = (await client.get("/cockpit/dashboard")).text
    assert '<a href="/cockpit/webhooks">Webhooks</a>' in page
    empty = await client.get("/cockpit/webhooks")
    assert empty.status_code == 200
    assert "There is no webhook yet." in empty.text


@pytest.mark.parametrize("path", ["/cockpit/webhooks", f"/cockpit/webhooks/{uuid.uuid4()}"])
async def test_signed_out_the_webhook_screens_go_to_sign_in(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, params={"cursor": "abc"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/cockpit/sign-in?next={quote(path + '?cursor=abc', safe='')}"


async def test_the_deliveries_are_paged_fifty_at_a_time(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await sign_in(app, client, role="admin")
    with running_receiver() as receiver:
        hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
        made = [
            (await submit(client, keys["app"], type="access", email=f"p{number:02d}@example.com"))["id"]
            for number in range(51)
        ]
        await work(app, within=60)
    assert len(receiver.messages) == 51
    address = f"/cockpit/webhooks/{hook['id']}"
    first = (await client.get(address)).text
    first_ids = re.findall(r'href="/cockpit/requests/([^"]+)"', first)
    assert len(first_ids) == 50
    assert first_ids[0] == made[-1]
    assert made[0] not in first_ids
    assert "First page" not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first)
    assert next_link is not None
    assert next_link.group(1).startswith(f"{address}?cursor=")
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert re.findall(r'href="/cockpit/requests/([^"]+)"', second.text) == [made[0]]
    assert 'rel="next"' not in second.text
    assert f'<a class="button quiet" href="{address}">First page</a>' in second.text
    assert "out of date" not in second.text


async def test_a_damaged_cursor_starts_again_at_the_first_page(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await sign_in(app, client, role="admin")
    # The request list's cursors belong to another list (they carry its sort order).
    for number in range(26):
        await submit(client, keys["app"], type="deletion", email=f"other{number}@example.com")
    with running_receiver() as receiver:
        hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
        made = await submit(client, keys["app"], type="access", email="bob@example.com")
        await work(app)
    other = re.search(r'rel="next" href="/cockpit\?[^"]*cursor=([^&"]+)', (await client.get("/cockpit")).text)
    assert other is not None
    for cursor in ("abc", "x" * 600, other.group(1)):
        response = await client.get(f"/cockpit/webhooks/{hook['id']}", params={"cursor": cursor})
        assert response.status_code == 200, cursor
        assert "The page address was out of date; this is the first page." in response.text
        assert 'role="alert"' in response.text
        assert f'href="/cockpit/requests/{made["id"]}"' in response.text
        assert "First page" not in response.text
    german = await client.get(
        f"/cockpit/webhooks/{hook['id']}", params={"cursor": "abc"}, headers={"Accept-Language": "de"}
    )
    assert "Die Seitenadresse war veraltet; dies ist die erste Seite." in german.text


async def test_an_unknown_webhook_is_the_not_found_page(client: httpx.AsyncClient, app: FastAPI) -> None:
    await sign_in(app, client, role="admin")
    for path in (f"/cockpit/webhooks/{uuid.uuid4()}", "/cockpit/webhooks/not-a-uuid"):
        response = await client.get(path, params={"cursor": "abc"})
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in response.text
