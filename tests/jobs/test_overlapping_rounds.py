"""The worker claims the next batch once every job of the last one is at work: one customer's package waiting on a
slow data source, or the end of a round (its packages recorded, then the data-ready emails those records queue)
waiting on a slow mail server, does not hold up another customer's acknowledgement. A third batch waits for the
first's end: at most two rounds are under way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.db import unit_of_work
from app.jobs import repository as jobs
from app.models import Job
from app.worker.loop import Worker

from ..factories import write_crm
from ..helpers import accept, submit
from ..notifications.smtp_server import SmtpServer, smtp_settings
from ..sources.http_source import HttpSourceServer
from .support import http_source_yaml, job_statuses, wait_until

READY = "Your data is ready to download"
RECEIVED = "We have received your request for a copy of your data"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {**smtp_settings(smtp_server.port), "worker_poll_interval": "PT0.05S"}


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, timeout="PT20S"))


def _subjects(server: SmtpServer, to: str) -> list[str]:
    return [str(message["Subject"]) for message in server.messages if message["To"] == to]


def _arrived(server: SmtpServer, to: str, subject: str) -> Callable[[], Awaitable[bool]]:
    """For ``wait_until``: an email with ``subject`` has reached ``to``."""

    async def check() -> bool:
        return subject in _subjects(server, to)

    return check


async def _accepted_access(
    client: httpx.AsyncClient, keys: dict[str, str], worker: Worker, *addresses: str
) -> None:
    """Access requests for ``addresses``, acknowledged (the worker runs until idle), then accepted for automatic
    handling: their package jobs are due."""
    ids = [str((await submit(client, keys["app"], type="access", email=a))["id"]) for a in addresses]
    await worker.run_until_idle()
    for request_id in ids:
        await accept(client, keys["operator"], request_id, "automatic")


async def test_the_next_batch_runs_while_the_round_before_waits_for_a_slow_mail_server(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    worker: Worker = app.state.worker
    await _accepted_access(client, keys, worker, "ada@example.com", "alan@example.com")
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

        await wait_until(
            _arrived(smtp_server, "grace@example.com", RECEIVED), within=10, what="Grace's acknowledgement"
        )
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
    await _accepted_access(client, keys, worker, "ada@example.com", "alan@example.com")
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


async def test_an_acknowledgement_does_not_wait_for_another_customers_package_on_a_slow_source(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    remote: HttpSourceServer,
) -> None:
    worker: Worker = app.state.worker
    await _accepted_access(client, keys, worker, "ada@example.com")
    remote.delay = 5.0  # the loyalty system answers Ada's read after 5 s
    running = asyncio.create_task(worker.run())
    try:

        async def adas_package_reading() -> bool:
            return len(remote.calls) > 0

        await wait_until(adas_package_reading, within=10, what="Ada's package reading the slow source")
        await submit(client, keys["app"], type="access", email="grace@example.com")

        # Well within the source's 5 s: claimed and sent while Ada's package still waits.
        await wait_until(
            _arrived(smtp_server, "grace@example.com", RECEIVED), within=3.5, what="Grace's acknowledgement"
        )
        assert READY not in _subjects(smtp_server, "ada@example.com")

        await wait_until(
            _arrived(smtp_server, "ada@example.com", READY), within=20, what="Ada's data-ready email"
        )
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    assert _subjects(smtp_server, "grace@example.com") == [RECEIVED]
    statuses = await job_statuses(app.state.sessionmaker)
    assert set(statuses) == {"done"}, statuses


async def test_a_data_ready_email_does_not_wait_behind_the_next_rounds_jobs(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    remote: HttpSourceServer,
) -> None:
    gate = asyncio.Event()  # other work, at a standstill until the test lets it go

    async def held(_session: Any, _job: Job) -> None:
        await gate.wait()

    worker: Worker = app.state.worker
    worker.handlers["held_test"] = held
    worker.concurrency, worker.batch_size = 2, 2
    await _accepted_access(client, keys, worker, "ada@example.com")
    async with unit_of_work(app.state.sessionmaker) as session:
        for n in range(3):
            await jobs.enqueue(session, "held_test", {"n": n})
    # The first round: Ada's package (the loyalty system answers after 1 s) beside a held job. The next: two more
    # held jobs, claimed as soon as the first round's are at work, waiting for the slots. Ada's package is done
    # first; her email must not wait for them.
    remote.delay = 1.0
    running = asyncio.create_task(worker.run())
    try:
        await wait_until(
            _arrived(smtp_server, "ada@example.com", READY),
            within=20,
            what="Ada's data-ready email while other jobs hold every slot",
        )
        assert (await job_statuses(app.state.sessionmaker, "held_test"))["done"] == 0
    finally:
        gate.set()
        worker.stop()
        await asyncio.wait_for(running, timeout=30)
    statuses = await job_statuses(app.state.sessionmaker)
    assert set(statuses) == {"done"}, statuses
