"""Listing: every filter, the sorts, and cursor pages without gaps or repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..helpers import submit


async def _all_pages(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/privacy-requests", params=query, headers=bearer(key))
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@pytest.mark.parametrize("sort", ["-received_at", "received_at", "due_at", "-due_at"])
async def test_pages_cover_every_request_once_in_order(
    client: httpx.AsyncClient, keys: dict[str, str], sort: str
) -> None:
    start = datetime(2026, 2, 1, tzinfo=UTC)
    ids = []
    for i in range(230):
        # several requests share a timestamp, so the id tie-break matters
        clock.freeze(start + timedelta(minutes=i // 3))
        regulation = ["gdpr", "ccpa", "lgpd"][i % 3]
        body = await submit(
            client, keys["app"], type="access", email=f"person{i}@example.org", regulation=regulation
        )
        ids.append(body["id"])
    items = await _all_pages(client, keys["operator"], sort=sort, limit=17)
    assert sorted(i["id"] for i in items) == sorted(ids)
    assert len(items) == len({i["id"] for i in items}) == 230
    column = sort.lstrip("-")
    keys_in_order = [(i[column], i["id"]) for i in items]
    assert keys_in_order == sorted(keys_in_order, reverse=sort.startswith("-"))


async def test_filters(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    clock.freeze(datetime(2026, 3, 1, tzinfo=UTC))
    old = await submit(client, keys["app"], type="access", email="ada@example.com")
    clock.freeze(datetime(2026, 3, 20, tzinfo=UTC))
    deletion = await submit(client, keys["app"], type="deletion", email="grace@example.com")
    unknown = await submit(client, keys["app"], type="access", email="nobody@example.org", regulation="lgpd")
    clock.freeze(datetime(2026, 4, 5, tzinfo=UTC))  # old (due 31 Mar) and unknown (due 4 Apr) are overdue
    op = keys["operator"]

    async def ids(**params: Any) -> set[str]:
        return {str(i["id"]) for i in await _all_pages(client, op, **params)}

    assert await ids() == {old["id"], deletion["id"], unknown["id"]}
    assert await ids(type="deletion") == {deletion["id"]}
    assert await ids(status="unverified") == {deletion["id"]}
    assert await ids(status=["unverified", "pending"]) == {old["id"], deletion["id"], unknown["id"]}
    assert await ids(email="GRACE@example.com") == {deletion["id"]}
    assert await ids(customer_id="cus_1") == {old["id"]}
    assert await ids(overdue="true") == {old["id"], unknown["id"]}
    assert await ids(overdue="false") == {deletion["id"]}
    assert await ids(due_before="2026-04-05T00:00:00Z") == {old["id"], unknown["id"]}
    assert await ids(received_after="2026-03-10T00:00:00Z") == {deletion["id"], unknown["id"]}
    assert await ids(received_before="2026-03-10T00:00:00Z") == {old["id"]}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"sort": "email"},
        {"limit": "0"},
        {"limit": "201"},
        {"overdue": "maybe"},
        {"due_before": "yesterday"},
        {"due_before": "2026-01-01T00:00:00"},
        {"cursor": "not-a-cursor"},
        {"email": "nope"},
        {"type": "copy"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, keys: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get("/v1/privacy-requests", params=params, headers=bearer(keys["operator"]))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"


async def test_cursor_of_another_sort_is_refused(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    for i in range(3):
        await submit(client, keys["app"], type="access", email=f"p{i}@example.org")
    page = (
        await client.get("/v1/privacy-requests", params={"limit": 1}, headers=bearer(keys["operator"]))
    ).json()
    response = await client.get(
        "/v1/privacy-requests",
        params={"limit": 1, "sort": "due_at", "cursor": page["next_cursor"]},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 422


async def test_stats_and_customer_view(client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI) -> None:
    clock.freeze(datetime(2026, 3, 1, tzinfo=UTC))
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await submit(client, keys["app"], type="deletion", customer_id="cus_1", headers=signed_in("cus_1"))
    clock.freeze(datetime(2026, 3, 26, tzinfo=UTC))
    await submit(client, keys["app"], type="access", email="grace@example.com")
    stats = (await client.get("/v1/stats", headers=bearer(keys["operator"]))).json()
    assert stats["by_status"]["pending"] == 2
    assert stats["by_status"]["unverified"] == 1
    assert stats["by_status"]["processed"] == 0
    assert stats["by_type"] == {"access": 2, "deletion": 1}
    assert stats["overdue"] == 0
    assert stats["due_within_7_days"] == 2  # the two received 1 March are due 31 March
    customer = await client.get("/v1/customers/cus_1", headers=bearer(keys["operator"]))
    assert customer.status_code == 200
    assert customer.json()["name"] == "Ada Lovelace"
    assert sorted(r["type"] for r in customer.json()["requests"]) == ["access", "deletion"]
    missing = await client.get("/v1/customers/cus_404", headers=bearer(keys["operator"]))
    assert missing.status_code == 404


async def test_list_items_read_as_the_detail_view(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    """The list's items carry the same values, written the same way, as the request's own view: ids as text,
    times in RFC 3339 with ``Z`` (with and without microseconds), the customer object or null."""
    clock.freeze(datetime(2026, 5, 4, 9, 30, tzinfo=UTC))
    whole_second = await submit(client, keys["app"], type="access", email="nobody@example.org")
    clock.freeze(datetime(2026, 5, 4, 9, 30, 1, 250000, tzinfo=UTC))
    fraction = await submit(client, keys["app"], type="deletion", email="grace@example.com")
    page = (await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))).json()
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[whole_second["id"]]["received_at"] == "2026-05-04T09:30:00Z"
    assert by_id[fraction["id"]]["received_at"] == "2026-05-04T09:30:01.250000Z"
    for created in (whole_second, fraction):
        detail = (
            await client.get(f"/v1/privacy-requests/{created['id']}", headers=bearer(keys["operator"]))
        ).json()
        item = by_id[created["id"]]
        assert item == {name: detail[name] for name in item}
    assert by_id[whole_second["id"]]["customer"] is None
    assert by_id[fraction["id"]]["customer"]["name"] == "Grace Hopper"
    assert by_id[fraction["id"]]["verified_at"] is None
