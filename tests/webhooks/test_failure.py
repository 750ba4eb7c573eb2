"""A request whose automatic work keeps failing raises request.failed; accepting it again raises
request.accepted, and its success request.processed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ..helpers import accept, detail, submit
from ..processing.world import work, write_world
from ..sources.http_source import HttpSourceServer
from .conftest import subscribe
from .receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 2}


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CRM, the support desk and a loyalty system that answers 503 while ``remote.fail_next`` lasts."""
    monkeypatch.setenv("LOYALTY_AUTH", "loyalty-token")
    return write_world(tmp_path / "world", loyalty_url=remote.url)


async def test_a_failed_request_and_its_retry_reach_the_receiver(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    receiver: Receiver,
    remote: HttpSourceServer,
) -> None:
    await subscribe(
        client, keys["admin"], receiver, ["request.failed", "request.accepted", "request.processed"]
    )
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    remote.fail_next, remote.fail_status = 100, 503
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "failed"
    assert sorted(receiver.types()) == ["request.accepted", "request.failed"]
    failed = next(message for message in receiver.messages if message.type == "request.failed")
    assert failed.payload["data"]["status"] == "failed"
    # The sources' reasons stay in the service: the body carries the status only. (Not a bare "503":
    # a timestamp's microseconds can hold those digits.)
    assert set(failed.payload["data"]) == {"id", "type", "status", "regulation", "received_at", "due_at"}
    assert "loyalty" not in failed.body
    assert "HTTP 503" not in failed.body

    remote.fail_next = 0
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    assert receiver.forged == []
    assert sorted(receiver.types()) == [
        "request.accepted",
        "request.accepted",
        "request.failed",
        "request.processed",
    ]
    assert len({message.webhook_id for message in receiver.messages}) == 4
