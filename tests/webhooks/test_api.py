"""The admin endpoints: roles, bad input with the contract's error body, listing, deleting, paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..helpers import submit
from ..processing.world import work
from .conftest import deliveries, subscribe
from .receiver import Receiver

VALID = {"url": "https://crm.example.org/hooks", "events": ["request.received"]}
UNKNOWN = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://crm.example.org/hooks", "events": ["request.received"]}, "url"),
        ({"url": "not a url", "events": ["request.received"]}, "url"),
        ({"url": "https://crm.example.org/" + "x" * 2000, "events": ["request.received"]}, "url"),
        ({"events": ["request.received"]}, "url"),
        ({"url": "https://crm.example.org/hooks", "events": []}, "events"),
        ({"url": "https://crm.example.org/hooks"}, "events"),
        ({"url": "https://crm.example.org/hooks", "events": ["request.exploded"]}, "events.0"),
        ({"url": "https://crm.example.org/hooks", "events": "request.received"}, "events"),
        ({**VALID, "description": "two\nlines"}, "description"),
        ({**VALID, "description": "x" * 201}, "description"),
        ({**VALID, "secret": "whsec_mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, keys: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/webhooks", json=body, headers=bearer(keys["admin"]))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "validation_error"
    assert error["detail"]
    assert field in [f["field"] for f in error["fields"]]
    listed = await client.get("/v1/webhooks", headers=bearer(keys["admin"]))
    assert listed.json() == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/webhooks", VALID),
        ("GET", "/v1/webhooks", None),
        ("DELETE", f"/v1/webhooks/{UNKNOWN}", None),
        ("GET", f"/v1/webhooks/{UNKNOWN}/deliveries", None),
    ],
)
async def test_only_an_admin_key_may_call(
    client: httpx.AsyncClient, keys: dict[str, str], method: str, path: str, body: dict[str, Any] | None
) -> None:
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "unauthorized"
    for role in ("app", "operator"):
        response = await client.request(method, path, json=body, headers=bearer(keys[role]))
        assert response.status_code == 403, role
        assert response.json()["error"] == "forbidden"
    admitted = await client.request(method, path, json=body, headers=bearer(keys["admin"]))
    assert admitted.status_code in (200, 201, 404)


async def test_an_unknown_webhook_is_a_404(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    for method, path in (
        ("DELETE", f"/v1/webhooks/{UNKNOWN}"),
        ("GET", f"/v1/webhooks/{UNKNOWN}/deliveries"),
    ):
        response = await client.request(method, path, headers=bearer(keys["admin"]))
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": "No webhook has this id."}
    malformed = await client.delete("/v1/webhooks/not-an-id", headers=bearer(keys["admin"]))
    assert malformed.status_code == 422
    assert malformed.json()["fields"][0]["field"] == "webhook_id"


async def test_a_deleted_webhook_gets_nothing_more_and_keeps_its_deliveries(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
    other = await client.post("/v1/webhooks", json=VALID, headers=bearer(keys["admin"]))
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await work(app)
    assert receiver.types() == ["request.received"]

    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(keys["admin"]))
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    again = await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(keys["admin"]))
    assert again.json() == deleted.json()
    listed = await client.get("/v1/webhooks", headers=bearer(keys["admin"]))
    assert [entry["id"] for entry in listed.json()] == [other.json()["id"]]

    await submit(client, keys["app"], type="access", email="grace@example.com")
    await work(app)
    assert len(receiver.calls) == 1
    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["delivered"]


async def test_a_delete_cancels_the_deliveries_still_waiting(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
    receiver.failing = 1
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await app.state.worker.run_until_idle()  # the first attempt fails; the retry waits for the clock
    deleted = await client.delete(f"/v1/webhooks/{hook['id']}", headers=bearer(keys["admin"]))
    assert deleted.status_code == 200
    clock.advance(timedelta(hours=1))
    await work(app)
    assert len(receiver.calls) == 1
    assert receiver.messages == []
    [item] = (await deliveries(client, keys["admin"], hook["id"]))["items"]
    assert item["status"] == "cancelled"
    assert [a["status_code"] for a in item["attempts"]] == [503]


async def test_deliveries_are_paged_newest_first(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
    ids = [
        (await submit(client, keys["app"], type="access", email=f"person{n}@example.org"))["id"]
        for n in range(5)
    ]
    await work(app)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await deliveries(client, keys["admin"], hook["id"], **params)
        assert len(page["items"]) <= 2
        seen += [item["request_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5

    for bad in ({"cursor": "garbage"}, {"limit": 0}, {"limit": 201}):
        response = await client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params=bad, headers=bearer(keys["admin"])
        )
        assert response.status_code == 422, bad
        assert response.json()["error"] == "validation_error"
        assert response.json()["fields"][0]["field"] == next(iter(bad))


async def test_a_webhook_id_is_any_valid_uuid(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    response = await client.get(f"/v1/webhooks/{uuid.uuid4()}/deliveries", headers=bearer(keys["admin"]))
    assert response.status_code == 404
