"""A round's end (its packages recorded, then the data-ready emails those records queue) goes on while the worker
claims and runs the next batch: a slow mail server holding one customer's email does not hold up another
customer's acknowledgement. A third batch waits for that end: at most two rounds are under way."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.worker.loop import Worker

from ..helpers import accept, submit
from ..notifications.smtp_server import SmtpServer, smtp_settings
from .support import job_statuses, wait_until

READY = "Your data is ready to download"
RECEIVED = "We have received your request for a copy of your data"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {**smtp_settings(smtp_server.port), "worker_poll_interval": "PT0.05S"}


def _subjects(server: SmtpServer, to: str) -> list[str]:
    return [str(message["Subject"]) for message in server.messages if message["To"] == to]


async def test_the_next_batch_runs_while_the_round_before_waits_for_a_slow_mail_server(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    worker: Worker = app.state.worker
    ids = []
    for address in ("ada@example.com", "alan@example.com"):
        ids.append(str((await submit(client, keys["app"], type="access", email=address))["id"]))
    await worker.run_until_idle()  # their acknowledgements
    for request_id in ids:
        await accept(client, keys["operator"], request_id, "automatic")
    # Ada's mail server answers only when the test lets it: her data-ready email waits in the round's end.
    smtp_server.hold_for = {"ada@example.com"}
    running = asyncio.create_task(worker.run())
    try:
        # The round: both packages, recorded together; their emails go out from the round's end.
        async def adas_email_held() -> bool:
            return smtp_server.holding == 1 and READY in _subjects(smtp_server, "alan@example.com")

        await wait_until(adas_email_held, within=20, what="Ada's data-ready email held by her mail server")

        # Grace asks meanwhile: her acknowledgement goes out in the next batch, while Ada's email still waits.
        await submit(client, keys["app"], type="access", email="grace@example.com")

        async def grace_acknowledged() -> bool:
            return RECEIVED in _subjects(smtp_server, "grace@example.com")

        await wait_until(grace_acknowledged, within=10, what="Grace's acknowledgement")
        assert smtp_server.holding == 1
        assert READY not in _subjects(smtp_server, "ada@example.com")

        # Hedy asks too: a third batch waits for the first round's end (twenty poll intervals here).
        await submit(client, keys["app"], type="access", email="hedy@example.com")
        await asyncio.sleep(1.0)
        assert _subjects(smtp_server, "hedy@example.com") == []
        assert smtp_server.holding == 1

        smtp_server.release.set()

        async def ada_and_hedy_served() -> bool:
            return READY in _subjects(smtp_server, "ada@example.com") and RECEIVED in _subjects(
                smtp_server, "hedy@example.com"
            )

        await wait_until(
            ada_and_hedy_served, within=10, what="Ada's data-ready email, Hedy's acknowledgement"
        )
    finally:
        smtp_server.release.set()
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    # Each email once, and every job done.
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    assert sorted(_subjects(smtp_server, "alan@example.com")) == sorted([RECEIVED, READY])
    assert _subjects(smtp_server, "grace@example.com") == [RECEIVED]
    assert _subjects(smtp_server, "hedy@example.com") == [RECEIVED]
    statuses = await job_statuses(app.state.sessionmaker)
    assert set(statuses) == {"done"}, statuses


async def test_a_worker_stopped_while_a_round_ends_returns_once_that_end_is_recorded(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    worker: Worker = app.state.worker
    ids = []
    for address in ("ada@example.com", "alan@example.com"):
        ids.append(str((await submit(client, keys["app"], type="access", email=address))["id"]))
    await worker.run_until_idle()
    for request_id in ids:
        await accept(client, keys["operator"], request_id, "automatic")
    smtp_server.hold_for = {"ada@example.com"}
    running = asyncio.create_task(worker.run())
    try:

        async def adas_email_held() -> bool:
            return smtp_server.holding == 1

        await wait_until(adas_email_held, within=20, what="Ada's data-ready email held by her mail server")
        worker.stop()
        await asyncio.sleep(0.5)
        assert not running.done()  # the round's end is still under way: stopping waits for it
    finally:
        smtp_server.release.set()
        await asyncio.wait_for(running, timeout=30)
    # Stopped only once Ada's email was sent and recorded: nothing is left leased to a stopped worker.
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    statuses = await job_statuses(app.state.sessionmaker)
    assert set(statuses) == {"done"}, statuses
