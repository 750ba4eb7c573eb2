"""A receiver that is down for a while (connections refused, then 503) gets every event once when it comes
back; one that never comes back leaves failed deliveries with every attempt listed. Webhook deliveries follow
their own retry policy (WEBHOOK_RETRY_BASE, WEBHOOK_RETRY_MAX_DELAY, WEBHOOK_RETRY_FOR), not the budget of the
other jobs (JOB_RETRY_BASE, JOB_MAX_ATTEMPTS), and the worker runs it on the service's clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.core import clock
from app.core.config import Settings

from ..helpers import accept, submit
from .conftest import deliveries, subscribe
from .receiver import Receiver, free_port, running_receiver

EVENTS = ["request.received", "request.accepted", "request.processed"]
# Longer than any wait of the webhook policy (WEBHOOK_RETRY_MAX_DELAY, an hour by default): each step of the
# clock makes exactly one attempt per pending delivery.
STEP = timedelta(hours=1)


# The webhooks' own schedule as a deployment has it by default.
DEFAULT_SCHEDULE = {
    name: Settings.model_fields[name].default
    for name in ("webhook_retry_base", "webhook_retry_max_delay", "webhook_retry_for")
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The other jobs' budget is spent in well under a second: the webhooks must not be bound by it.
    return {**DEFAULT_SCHEDULE, "job_retry_base": "PT0.1S", "job_max_attempts": 2}


async def _run_due(app: FastAPI) -> None:
    """Run the jobs due now (not the periodic sweep: days of it, pass by pass, would take long here)."""
    while await app.state.worker.run_once():
        pass


async def _step(app: FastAPI, steps: int = 1) -> None:
    for _ in range(steps):
        clock.advance(STEP)
        await _run_due(app)


async def test_a_receiver_down_for_a_day_gets_every_event_once_when_it_comes_back(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    settings = app.state.ctx.settings
    assert settings.webhook_retry_for == timedelta(days=3)  # the default budget
    assert settings.webhook_retry_max_delay == STEP
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    hook = await subscribe(client, keys["admin"], receiver, EVENTS)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    clock.advance(timedelta(minutes=1))
    await accept(client, keys["operator"], request["id"], "automatic")
    clock.advance(timedelta(minutes=1))
    await app.state.worker.run_until_idle()  # the package is built; every delivery is refused
    down_for = 24  # hours; the budget of the other jobs spans about a second here, a minute by default
    await _step(app, down_for)

    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["pending"] * 3
    for item in page["items"]:
        assert len(item["attempts"]) == 1 + down_for
        for attempt in item["attempts"]:
            assert attempt["status_code"] is None
            assert "ConnectError" in attempt["error"]

    # A day on it comes back, answering 503 twice at first.
    receiver.failing = 2
    with running_receiver(receiver, port=port):
        await _step(app)
        assert len(receiver.calls) == 3
        assert len(receiver.messages) == 1
        await _step(app)
        await _step(app, 3)  # nothing is due any more: nothing is sent again
        assert receiver.forged == []
        assert Counter(receiver.types()) == Counter(EVENTS)
        assert len(receiver.calls) == 3 + 2
        # A retry carries the webhook-id of the first attempt: the receiver can drop repeats.
        calls_per_id = Counter(call["webhook-id"] for call in receiver.calls)
        assert sorted(calls_per_id.values()) == [1, 2, 2]
        assert set(calls_per_id) == {message.webhook_id for message in receiver.messages}

    for message in receiver.messages:
        assert Webhook(hook["secret"]).verify(message.body, message.headers) == message.payload
    # They arrived out of order (the accepted event last, say); each carries the time of its change, which
    # orders them as they happened.
    in_order = sorted(receiver.messages, key=lambda message: message.payload["timestamp"])
    assert [message.type for message in in_order] == EVENTS
    assert [message.payload["data"]["status"] for message in in_order] == [
        "pending",
        "in_progress",
        "processed",
    ]

    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["delivered"] * 3
    down = (None,) * (1 + down_for)
    codes = sorted(tuple(a["status_code"] for a in item["attempts"]) for item in page["items"])
    assert codes == [(*down, 204), (*down, 503, 204), (*down, 503, 204)]
    for item in page["items"]:
        assert item["attempts"][-1]["error"] is None
        assert [a["at"] for a in item["attempts"]] == sorted(a["at"] for a in item["attempts"])


async def test_the_waits_double_from_the_base_up_to_the_cap_with_jitter(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    settings = app.state.ctx.settings
    base, cap = settings.webhook_retry_base, settings.webhook_retry_max_delay
    assert (base, cap) == (timedelta(seconds=10), timedelta(hours=1))  # the defaults
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    await subscribe(client, keys["admin"], receiver, ["request.received"])
    receiver.failing = 1000
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await _run_due(app)
    assert len(receiver.calls) == 1
    for attempt in range(1, 13):
        # The wait after the n-th failure is drawn between half and all of min(base * 2**(n-1), cap): not
        # sooner than the half, and by the whole it has been made.
        ceiling = min(base * 2 ** (attempt - 1), cap)
        clock.advance(ceiling / 2 - timedelta(seconds=1))
        await _run_due(app)
        assert len(receiver.calls) == attempt, f"attempt {attempt + 1} came before half of {ceiling}"
        clock.advance(ceiling / 2 + timedelta(seconds=1))
        await _run_due(app)
        assert len(receiver.calls) == attempt + 1, f"attempt {attempt + 1} did not come within {ceiling}"


@pytest.mark.parametrize(
    "settings_overrides", [{**DEFAULT_SCHEDULE, "webhook_retry_for": "PT12H", "job_max_attempts": 2}]
)
async def test_a_receiver_that_never_comes_back_fails_after_webhook_retry_for(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    assert app.state.ctx.settings.job_max_attempts == 2
    clock.freeze(datetime(2030, 4, 1, 9, 0, tzinfo=UTC))
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"])
    receiver.failing = 1000
    receiver.fail_status = 500
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await app.state.worker.run_until_idle()
    await _step(app, 11)
    [item] = (await deliveries(client, keys["admin"], hook["id"]))["items"]
    assert item["status"] == "pending"  # 11 hours on, still tried

    await _step(app)  # WEBHOOK_RETRY_FOR after the event: its last attempt, then it is given up
    await _step(app, 5)
    [item] = (await deliveries(client, keys["admin"], hook["id"]))["items"]
    assert item["status"] == "failed"
    assert item["delivered_at"] is None
    # One attempt at once, one each hour for 12 hours; the last exactly WEBHOOK_RETRY_FOR after the event.
    assert [a["status_code"] for a in item["attempts"]] == [500] * (1 + 12)
    assert {a["error"] for a in item["attempts"]} == {"the receiver answered 500"}
    first, last = (datetime.fromisoformat(item["attempts"][i]["at"]) for i in (0, -1))
    assert last - first == timedelta(hours=12)
    assert len(receiver.calls) == 1 + 12
    assert receiver.messages == []


@pytest.mark.parametrize("settings_overrides", [{**DEFAULT_SCHEDULE, "webhook_retry_for": "P60D"}])
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
