"""A delivery queued by the worker's own job (the package job's ``request.processed``) is claimed as that job
commits, not at the next poll: on SQLite nothing else would wake the worker, and in these tests no LISTEN
connection runs on PostgreSQL either."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.worker.loop import Worker

from ..helpers import accept, submit
from .conftest import subscribe
from .receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"worker_poll_interval": "PT1H"}


async def test_a_delivery_queued_by_a_job_goes_out_without_waiting_for_the_poll(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    await subscribe(client, keys["admin"], receiver, ["request.processed"])
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], str(request["id"]), "automatic")
    worker: Worker = app.state.worker
    task = asyncio.create_task(worker.run())
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + 20
        while "request.processed" not in receiver.types():
            assert loop.time() < deadline, "request.processed not delivered within 20 s (the poll is an hour)"
            await asyncio.sleep(0.01)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
    assert receiver.types() == ["request.processed"]
    assert receiver.forged == []
