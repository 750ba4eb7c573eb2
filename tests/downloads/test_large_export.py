"""A large customer (20,000 orders) exported through the API: the streams are valid and complete."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from app.core.config import Settings

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..factories import write_crm
from ..helpers import submit
from ..processing.world import accept, emails_to, link_in, work

ORDERS = 20_000


@pytest.fixture
def sources_file(world: Path) -> Path:
    path = write_crm(world)
    with sqlite3.connect(world / "crm.db") as connection:
        connection.executemany(
            "INSERT INTO orders (id, customer_id, total, shipping_address) VALUES (?, ?, ?, ?)",
            [(1000 + n, "cus_1", n / 100, f'{n} Analytical Way, "Flat" {n % 7}') for n in range(ORDERS)],
        )
        connection.execute("INSERT INTO orders (id, customer_id, total) VALUES (999999, 'cus_2', 1.0)")
    return path


def _check_orders(orders: list[dict[str, object]]) -> None:
    assert len(orders) == ORDERS + 2
    ids = [order["id"] for order in orders]
    assert ids == [1, 2, *range(1000, 1000 + ORDERS)]
    assert orders[-1] == {
        "id": 1000 + ORDERS - 1,
        "customer_id": "cus_1",
        "total": (ORDERS - 1) / 100,
        "shipping_address": f'{ORDERS - 1} Analytical Way, "Flat" {(ORDERS - 1) % 7}',
    }


async def asgi_get(app: FastAPI, path: str, query: str, key: str) -> tuple[int, dict[str, str], list[bytes]]:
    """GET through the ASGI app itself, keeping each body message apart (httpx's test transport joins them)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {key}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "extensions": {},
    }
    status = 0
    headers: dict[str, str] = {}
    parts: list[bytes] = []

    requested = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()  # the client stays connected until the whole body is sent
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.update({k.decode(): v.decode() for k, v in message["headers"]})
        elif message["type"] == "http.response.body" and message.get("body"):
            parts.append(message["body"])
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    return status, headers, parts


async def test_large_customer_zip_export_streams_a_complete_package(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    status, headers, parts = await asgi_get(
        app, f"/v1/privacy-requests/{request['id']}/data", "format=zip", keys["operator"]
    )
    assert status == 200
    assert headers["content-type"] == "application/zip"
    # Handed out as produced, in many pieces, none of them the whole package.
    assert len(parts) > 3
    body = b"".join(parts)
    assert max(len(part) for part in parts) < len(body) / 2

    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    data = json.loads(archive.read("data.json"))
    _check_orders(data["sources"]["crm"]["orders"])
    assert data["sources"]["crm"]["customers"][0]["id"] == "cus_1"
    lines = list(csv.reader(io.StringIO(archive.read("crm/orders.csv").decode())))
    assert lines[0] == ["id", "customer_id", "total", "shipping_address"]
    assert len(lines) == ORDERS + 3
    assert lines[-1] == [
        str(1000 + ORDERS - 1),
        "cus_1",
        str((ORDERS - 1) / 100),
        f'{ORDERS - 1} Analytical Way, "Flat" {(ORDERS - 1) % 7}',
    ]
    assert "999999" not in archive.read("crm/orders.csv").decode()
    report = archive.read("report.html").decode()
    assert report.rstrip().endswith("</html>")
    # The readable page states the full count (it may show only the first rows; the CSV has them all).
    assert re.search(r"orders \((20,?002) records\)", report)


async def test_large_customer_json_export_is_complete(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    response = await client.get(
        f"/v1/privacy-requests/{request['id']}/data", headers=bearer(keys["operator"])
    )
    assert response.status_code == 200
    _check_orders(response.json()["sources"]["crm"]["orders"])


async def test_large_customer_package_through_the_download_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")

    response = await client.get(link)

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    _check_orders(json.loads(archive.read("data.json"))["sources"]["crm"]["orders"])
