"""Real ``python -m app worker`` processes deliver the webhooks: the events raised in the API's transactions and
those raised in the workers' own (the package built), each once with a valid signature, retries included."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.core.config import Settings

from ..helpers import accept, detail, submit
from ..jobs.support import job_statuses, wait_until, worker_processes
from .conftest import deliveries, subscribe
from .receiver import Receiver

EVENTS = ["request.received", "request.accepted", "request.processed"]


async def test_worker_processes_deliver_every_event_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    receiver: Receiver,
    is_postgres: bool,
    tmp_path: Path,
) -> None:
    hook = await subscribe(client, keys["admin"], receiver, EVENTS)
    receiver.failing = 2  # two of the first calls answer 503: retried by whichever worker claims them
    requests = [
        await submit(client, keys["app"], type="access", email=f"person{n}@example.org") for n in range(3)
    ]
    for request in requests:
        await accept(client, keys["operator"], request["id"], "automatic")

    with worker_processes(settings, tmp_path) as workers:
        # Several workers need PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite runs one.
        for name in ("first", "second") if is_postgres else ("first",):
            workers.start(name, WEBHOOK_RETRY_BASE="PT0.2S", WEBHOOK_RETRY_MAX_DELAY="PT1S")

        async def all_delivered() -> bool:
            statuses = await job_statuses(app.state.sessionmaker)
            return len(receiver.messages) == 9 and set(statuses) == {"done"}

        await wait_until(all_delivered, within=60, what="every webhook delivered", output=workers.output)
        workers.assert_alive()

    assert receiver.forged == []
    assert Counter(receiver.types()) == Counter(dict.fromkeys(EVENTS, 3))
    assert len({message.webhook_id for message in receiver.messages}) == 9
    assert len(receiver.calls) == 9 + 2
    for request in requests:
        assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
        raised = {m.type for m in receiver.messages if m.payload["data"]["id"] == request["id"]}
        assert raised == set(EVENTS)
    page = await deliveries(client, keys["admin"], hook["id"])
    assert [item["status"] for item in page["items"]] == ["delivered"] * 9
    assert sum(len(item["attempts"]) for item in page["items"]) == 11
