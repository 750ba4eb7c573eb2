"""AUTO_ACCEPT_ACCESS: a submit writes the request accepted at once, and its timeline and webhooks still tell
the two steps apart: received (status pending), then accepted (in progress)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ..helpers import detail, submit
from ..processing.world import work
from .conftest import subscribe
from .receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"auto_accept_access": True}


async def test_a_request_accepted_at_submit_raises_each_event_with_the_status_it_left(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    await subscribe(
        client, keys["admin"], receiver, ["request.received", "request.accepted", "request.processed"]
    )
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    assert request["status"] == "in_progress"
    await work(app)

    statuses = {message.type: message.payload["data"]["status"] for message in receiver.messages}
    assert statuses == {
        "request.received": "pending",
        "request.accepted": "in_progress",
        "request.processed": "processed",
    }
    assert len(receiver.messages) == 3
    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    assert view["accepted_at"] is not None
    assert [(event["action"], event["actor"]) for event in view["events"]][:2] == [
        ("received", "app-key"),
        ("accepted", "system"),
    ]


async def test_a_deletion_is_not_accepted_at_submit_and_says_so(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    await subscribe(client, keys["admin"], receiver, ["request.received", "request.accepted"])
    request = await submit(client, keys["app"], type="deletion", email="ada@example.com")
    assert request["status"] == "unverified"
    await work(app)
    assert [(m.type, m.payload["data"]["status"]) for m in receiver.messages] == [
        ("request.received", "unverified")
    ]
