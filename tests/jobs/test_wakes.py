"""When a running worker looks for work: at once when woken (a job queued by the API, by its own jobs, by any
process through PostgreSQL NOTIFY), else at the poll interval. A round that took fewer jobs than a batch took
every due one, so it is not followed by an empty claim; a job born leased to a worker wakes no one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.core.db import unit_of_work
from app.jobs import repository as jobs
from app.notifications.outbox import SEND_EMAIL_JOB
from app.worker.loop import NOTIFY_CHANNEL, Worker

from ..helpers import accept, mailbox, submit

RECEIVED = "We have received your request for a copy of your data"
READY = "Your data is ready to download"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # An hour between polls: within a test, only a wake brings the worker round.
    return {"worker_poll_interval": "PT1H"}


def _subjects(mail_dir: Path) -> list[str]:
    return [str(message["Subject"]) for message in mailbox(mail_dir)]


async def _until(condition: Callable[[], bool], *, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _running(worker: Worker) -> AsyncIterator[None]:
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)


async def test_the_worker_claims_when_woken_and_makes_no_empty_claim_after_a_round(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    worker: Worker = app.state.worker
    claims: list[str] = []

    def count_claims(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM jobs" in statement and "ORDER BY jobs.run_at, jobs.id" in statement:
            claims.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", count_claims)
    try:
        request = await submit(client, keys["app"], type="access", email="ada@example.com")
        async with _running(worker):
            # The worker's first round takes the acknowledgement queued before it started.
            await _until(
                lambda: RECEIVED in _subjects(settings.mail_dir), within=20, what="the acknowledgement"
            )
            await asyncio.sleep(0.2)
            assert len(claims) == 1  # the round took 1 job of a batch of 10: every due job; it waits
            # The accept wakes it (the poll is an hour away): one claim builds the package, whose email goes
            # out as that job commits, without another claim.
            await accept(client, keys["operator"], str(request["id"]), "automatic")
            await _until(
                lambda: READY in _subjects(settings.mail_dir), within=20, what="the data-ready email"
            )
            await asyncio.sleep(0.2)
            assert len(claims) == 2
    finally:
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", count_claims)
    assert sorted(_subjects(settings.mail_dir)) == sorted([RECEIVED, READY])


async def test_a_full_batch_is_followed_by_another_claim_at_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    """Twelve acknowledgements with batches of five: the rounds go on until a batch comes back short."""
    worker: Worker = app.state.worker
    worker.batch_size = 5
    for i in range(12):
        await submit(client, keys["app"], type="access", email=f"shopper{i}@example.com")
    async with _running(worker):
        await _until(lambda: len(mailbox(settings.mail_dir)) == 12, within=30, what="twelve acknowledgements")
    assert sorted(str(m["To"]) for m in mailbox(settings.mail_dir)) == sorted(
        f"shopper{i}@example.com" for i in range(12)
    )


async def test_only_a_queued_job_notifies_other_processes(app: FastAPI, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL; set TEST_DATABASE_URL")
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = await asyncpg.connect(dsn)
    heard: list[str] = []
    await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.append(args[2]))
    try:
        # A send_email job born leased to a worker (the email of the job it runs): for that worker alone.
        async with unit_of_work(app.state.sessionmaker) as session:
            session.info[jobs.LEASE_TO] = jobs.NewJobLease(
                "elsewhere:1:dead", timedelta(minutes=1), frozenset({SEND_EMAIL_JOB})
            )
            born = await jobs.enqueue(session, SEND_EMAIL_JOB, {"email_id": "0" * 32})
        assert born.status == "running"
        # Then a queued one, for whichever worker claims it first.
        async with unit_of_work(app.state.sessionmaker) as session:
            queued = await jobs.enqueue(session, SEND_EMAIL_JOB, {"email_id": "1" * 32})
        assert queued.status == "queued"
        # Notifications arrive in commit order: once the queued job's has come, the born one's would have too.
        await _until(lambda: len(heard) >= 1, within=10, what="the queued job's notification")
        await asyncio.sleep(0.2)
        assert len(heard) == 1
    finally:
        await listener.close()
