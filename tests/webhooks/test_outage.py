"""A receiver that is down for a while (connections refused, then 503) gets every event once when it comes
back; one that never comes back leaves failed deliveries with every attempt listed. The worker's own retries
drive it (JOB_RETRY_BASE, JOB_MAX_ATTEMPTS) on the service's clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..helpers import accept, submit
from .conftest import deliveries, subscribe
from .receiver import Receiver, free_port, running_receiver

EVENTS = ["request.received", "request.accepted", "request.processed"]
# Longer than any backoff the worker draws for the attempts below (JOB_RETRY_BASE doubling, at most 16 min).
LATER = timedelta(minutes=20)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_retry_base": "PT30S", "job_max_attempts": 8}


async def _retry_later(app: FastAPI) -> None:
    clock.advance(LATER)
    await app.state.worker.run_until_idle()


async def test_a_receiver_down_for_a_while_gets_every_event_once_when_it_comes_back(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    hook = await subscribe(client, keys["admin"], receiver, EVENTS)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await app.state.worker.run_until_idle()  # the package is built; every delivery is refused
    for _ in range(2):
        await _retry_later(app)

    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["pending"] * 3
    for item in page["items"]:
        assert len(item["attempts"]) == 3
        for attempt in item["attempts"]:
            assert attempt["status_code"] is None
            assert "ConnectError" in attempt["error"]

    # It comes back, answering 503 twice at first.
    receiver.failing = 2
    with running_receiver(receiver, port=port):
        await _retry_later(app)
        await _retry_later(app)
        await _retry_later(app)  # nothing is due any more: nothing is sent again
        assert receiver.forged == []
        assert Counter(receiver.types()) == Counter(EVENTS)
        assert len(receiver.calls) == 3 + 2
        # A retry carries the webhook-id of the first attempt: the receiver can drop repeats.
        calls_per_id = Counter(call["webhook-id"] for call in receiver.calls)
        assert sorted(calls_per_id.values()) == [1, 2, 2]
        assert set(calls_per_id) == {message.webhook_id for message in receiver.messages}

    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["delivered"] * 3
    codes = sorted(tuple(a["status_code"] for a in item["attempts"]) for item in page["items"])
    assert codes == [(None, None, None, 204), (None, None, None, 503, 204), (None, None, None, 503, 204)]
    for item in page["items"]:
        assert item["attempts"][-1]["error"] is None
        assert [a["at"] for a in item["attempts"]] == sorted(a["at"] for a in item["attempts"])


async def test_a_receiver_that_never_comes_back_leaves_failed_deliveries_with_every_attempt(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
    receiver.failing = 100
    receiver.fail_status = 500
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await app.state.worker.run_until_idle()
    for _ in range(8):
        await _retry_later(app)

    [item] = (await deliveries(client, keys["admin"], hook["id"]))["items"]
    assert item["status"] == "failed"
    assert item["delivered_at"] is None
    assert [a["status_code"] for a in item["attempts"]] == [500] * 8  # JOB_MAX_ATTEMPTS
    assert {a["error"] for a in item["attempts"]} == {"the receiver answered 500"}
    assert len(receiver.calls) == 8
    assert receiver.messages == []


async def test_finished_deliveries_go_after_job_retention_and_pending_ones_stay(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    working = await subscribe(client, keys["admin"], receiver, ["request.received"])
    down = await subscribe(
        client, keys["admin"], Receiver(url=f"http://127.0.0.1:{free_port()}/hooks"), ["request.accepted"]
    )
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    await app.state.worker.run_until_idle()
    assert receiver.types() == ["request.received"]

    clock.advance(app.state.ctx.settings.job_retention - timedelta(hours=1))
    await app.state.worker.run_until_idle()
    assert len((await deliveries(client, keys["admin"], working["id"]))["items"]) == 1

    clock.advance(timedelta(hours=2))
    await app.state.worker.run_until_idle()
    assert (await deliveries(client, keys["admin"], working["id"]))["items"] == []
    [waiting] = (await deliveries(client, keys["admin"], down["id"]))["items"]
    assert waiting["status"] == "pending"
    assert len(waiting["attempts"]) == 3
