"""The list as CSV: streamed over every page, the same rows, filters and order as the list, cells a spreadsheet
would run as formulas defused, and an attachment."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.requests import export_csv

from ..conftest import bearer
from ..helpers import submit

EXPORT = "/v1/privacy-requests/export.csv"
COLUMNS = [
    "id",
    "type",
    "status",
    "regulation",
    "email",
    "customer_id",
    "channel",
    "locale",
    "handling",
    "received_at",
    "due_at",
    "days_left",
    "overdue",
    "processed_at",
]


async def _list_all(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/privacy-requests", params=query, headers=bearer(key))
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


def _as_csv_row(item: dict[str, Any]) -> dict[str, str]:
    """A list item as the CSV writes it."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    customer = item["customer"]
    values = {**item, "customer_id": customer["id"] if customer else None}
    return {column: text(values[column]) for column in COLUMNS}


async def _body_messages(app: FastAPI, key: str, params: dict[str, str]) -> list[bytes]:
    """The bodies of the ASGI messages the app sends (httpx's in-process transport joins them into one)."""
    sent: list[MutableMapping[str, Any]] = []
    requested = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": EXPORT,
        "raw_path": EXPORT.encode(),
        "root_path": "",
        "query_string": urlencode(params).encode(),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode())],
        "client": ("127.0.0.1", 123),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    return [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]


async def _export(client: httpx.AsyncClient, key: str, **params: Any) -> tuple[httpx.Response, list[bytes]]:
    chunks: list[bytes] = []
    async with client.stream("GET", EXPORT, params=params, headers=bearer(key)) as response:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    return response, chunks


async def _seed(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    for i in range(23):
        clock.freeze(start + timedelta(hours=i // 2))  # pairs share a time: the id breaks the tie
        await submit(
            client,
            keys["app"],
            type="deletion" if i % 4 == 0 else "access",
            email=f"row{i}@example.org",
            regulation=["gdpr", "ccpa", "lgpd"][i % 3],
            channel="web",
            locale="de" if i % 5 == 0 else "en",
        )
    clock.freeze(start + timedelta(days=20))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "due_at"},
        {"type": "access", "sort": "-due_at"},
        {"status": "unverified"},
        {"overdue": "true"},
        {"overdue": "true", "sort": "received_at"},
        {"q": "row1"},
    ],
)
async def test_the_csv_holds_the_list_streamed_page_by_page(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    params: dict[str, str],
) -> None:
    monkeypatch.setattr(export_csv, "PAGE", 5)
    await _seed(client, keys)
    listed = await _list_all(client, keys["operator"], **params)
    assert listed  # each case selects something

    response, chunks = await _export(client, keys["operator"], **params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="privacy-requests-')
    assert disposition.endswith('.csv"')
    body = b"".join(chunks).decode()
    assert body.startswith(",".join(COLUMNS) + "\r\n")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert rows == [_as_csv_row(item) for item in listed]
    # Page by page: the header with the first page, then a message per further page of five.
    pages = await _body_messages(app, keys["operator"], params)
    assert len(pages) == -(-len(listed) // 5)
    assert b"".join(pages).decode() == body


async def test_cells_a_spreadsheet_would_run_are_defused(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    await submit(client, keys["app"], type="access", email="formula@example.org", channel='=HYPERLINK("x")')
    await submit(client, keys["app"], type="access", email="plain@example.org", channel="-ios")
    response, chunks = await _export(client, keys["operator"], sort="received_at")
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert [row["channel"] for row in rows] == ['\'=HYPERLINK("x")', "'-ios"]
    assert rows[0]["days_left"].lstrip("-").isdigit()


async def test_an_empty_selection_is_a_header(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    response, chunks = await _export(client, keys["operator"], q="nobody@example.org")
    assert response.status_code == 200
    assert b"".join(chunks) == (",".join(COLUMNS) + "\r\n").encode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"due_before": "2026-01-01T00:00:00"}, "due_before"),
        ({"status": "open"}, "status"),
        ({"sort": "email"}, "sort"),
        ({"email": "not-an-address"}, "email"),
        ({"overdue": "maybe"}, "overdue"),
    ],
)
async def test_bad_filters_are_refused(
    client: httpx.AsyncClient, keys: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await client.get(EXPORT, params=params, headers=bearer(keys["operator"]))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert any(f["field"].startswith(field) for f in response.json()["fields"]), response.json()


async def test_only_operators_export(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    assert (await client.get(EXPORT, headers=bearer(keys["app"]))).status_code == 403
    assert (await client.get(EXPORT)).status_code == 401
