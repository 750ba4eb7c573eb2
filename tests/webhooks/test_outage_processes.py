"""In real time, with real ``python -m app worker`` processes: a receiver down (connections refused) for far
longer than the other jobs' retry budget, then answering 503 once, then up, gets every event once with a valid
signature. A short webhook schedule stands for the default one (seconds for hours)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.core.config import Settings

from ..helpers import accept, submit
from ..jobs.support import job_statuses, wait_until, worker_processes
from .conftest import deliveries, subscribe
from .receiver import Receiver, free_port, running_receiver

EVENTS = ["request.received", "request.accepted", "request.processed"]
# The other jobs give up after 2 attempts, 0.1 s apart; webhook deliveries wait 0.2 s, doubling, at most 1 s,
# for up to two minutes.
SCHEDULE = {
    "JOB_MAX_ATTEMPTS": "2",
    "JOB_RETRY_BASE": "PT0.1S",
    "WEBHOOK_RETRY_BASE": "PT0.2S",
    "WEBHOOK_RETRY_MAX_DELAY": "PT1S",
    "WEBHOOK_RETRY_FOR": "PT2M",
}
DOWN_FOR = 6.0  # seconds


async def test_worker_processes_deliver_every_event_once_after_an_outage(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    is_postgres: bool,
    tmp_path: Path,
) -> None:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    hook = await subscribe(client, keys["admin"], receiver, EVENTS)
    requests = [
        await submit(client, keys["app"], type="access", email=f"person{n}@example.org") for n in range(2)
    ]
    for request in requests:
        await accept(client, keys["operator"], request["id"], "automatic")

    with worker_processes(settings, tmp_path) as workers:
        # Several workers need PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite runs one.
        for name in ("first", "second") if is_postgres else ("first",):
            workers.start(name, **SCHEDULE)

        async def refused_more_than_twice() -> bool:
            page = await deliveries(client, keys["admin"], hook["id"])
            return len(page["items"]) == 6 and all(len(item["attempts"]) > 2 for item in page["items"])

        await wait_until(
            refused_more_than_twice, within=90, what="three refused attempts each", output=workers.output
        )
        await asyncio.sleep(DOWN_FOR)
        page = await deliveries(client, keys["admin"], hook["id"])
        assert {item["status"] for item in page["items"]} == {"pending"}

        receiver.failing = 1
        with running_receiver(receiver, port=port):

            async def all_delivered() -> bool:
                return len(receiver.messages) == 6 and set(await job_statuses(app.state.sessionmaker)) == {
                    "done"
                }

            await wait_until(all_delivered, within=60, what="every event delivered", output=workers.output)
            await asyncio.sleep(1.5)  # longer than any wait: nothing more comes
            workers.assert_alive()

    assert receiver.forged == []
    assert Counter(receiver.types()) == Counter(dict.fromkeys(EVENTS, 2))
    assert len({message.webhook_id for message in receiver.messages}) == 6
    assert len(receiver.calls) == 6 + 1
    for message in receiver.messages:
        assert Webhook(hook["secret"]).verify(message.body, message.headers) == message.payload

    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["delivered"] * 6
    for item in page["items"]:
        *refused, last = item["attempts"]
        assert len(refused) > 2
        assert last["status_code"] == 204
        assert all(attempt["status_code"] in (None, 503) for attempt in refused)
        assert sum(attempt["status_code"] is None for attempt in refused) > 2
        assert all(
            "ConnectError" in attempt["error"] for attempt in refused if attempt["status_code"] is None
        )
    # Spread over the outage, not spent in its first second.
    first_attempts = [item["attempts"][0]["at"] for item in page["items"]]
    last_refusals = [
        next(a["at"] for a in reversed(item["attempts"]) if a["status_code"] is None)
        for item in page["items"]
    ]
    spans = [
        (_parse(last) - _parse(first)).total_seconds()
        for first, last in zip(first_attempts, last_refusals, strict=True)
    ]
    assert min(spans) > DOWN_FOR - 2


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)
