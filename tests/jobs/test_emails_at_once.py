"""The emails a job queues (the data-ready link of a package it built) go out as its transaction commits: born
leased to the worker that ran the job, sent by it at once, never claimed. Should that worker die first, the
lease runs out and any worker sends it; should the send fail, it is retried like any other email."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.core.db import unit_of_work
from app.jobs import repository as jobs
from app.models import Email, Job
from app.notifications.outbox import SEND_EMAIL_JOB
from app.requests import repository as requests
from app.requests.notify import email_customer
from app.worker.loop import Worker

from ..helpers import accept, submit, text_of
from ..notifications.smtp_server import SmtpServer, smtp_settings

READY = "Your data is ready to download"
RECEIVED = "We have received your request for a copy of your data"


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {**smtp_settings(smtp_server.port), "job_retry_base": "PT10S"}


def _subjects(server: SmtpServer, to: str) -> list[str]:
    return [str(message["Subject"]) for message in server.messages if message["To"] == to]


async def _send_jobs(app: FastAPI) -> dict[str, Job]:
    """The send_email jobs by the kind of their email."""
    async with app.state.sessionmaker() as session:
        kinds = {str(email.id): email.kind for email in (await session.scalars(select(Email))).all()}
        send_jobs = (await session.scalars(select(Job).where(Job.kind == SEND_EMAIL_JOB))).all()
    return {kinds[job.payload["email_id"]]: job for job in send_jobs}


async def _accepted_access(client: httpx.AsyncClient, keys: dict[str, str], address: str) -> str:
    request = await submit(client, keys["app"], type="access", email=address)
    await accept(client, keys["operator"], request["id"], "automatic")
    return str(request["id"])


async def test_the_data_ready_email_goes_out_in_the_round_that_built_the_package(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    worker: Worker = app.state.worker
    await _accepted_access(client, keys, "ada@example.com")

    # One claim: the acknowledgement and the package job. The package's email is not claimed: it is sent by
    # the job that queued it, right after its commit, in the same round.
    assert await worker.run_once() == 2
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    # Sent as the job rendered it (not read back from the outbox): its link downloads the package.
    [ready_mail] = [m for m in smtp_server.messages if str(m["Subject"]) == READY]
    [link] = re.findall(r"https?://[^/\s]+(/v1/downloads/[^\s<>\"]+)", text_of(ready_mail))
    download = await client.get(link)
    assert download.status_code == 200
    assert download.content[:2] == b"PK"
    by_kind = await _send_jobs(app)
    ready = by_kind["data_ready"]
    assert (ready.status, ready.attempts, ready.locked_by) == ("done", 1, worker.worker_id)
    assert await worker.run_once() == 0  # nothing left to claim
    async with app.state.sessionmaker() as session:
        email = (await session.scalars(select(Email).where(Email.kind == "data_ready"))).one()
    assert (email.status, email.text_body, email.html_body) == ("sent", None, None)


async def test_an_email_whose_first_send_fails_is_retried_like_any_other(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    worker: Worker = app.state.worker
    clock.freeze(datetime(2030, 5, 1, 8, 0, tzinfo=UTC))
    await _accepted_access(client, keys, "ada@example.com")
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    await worker.run_once()
    ready = (await _send_jobs(app))["data_ready"]
    assert (ready.status, ready.attempts, ready.locked_by) == ("queued", 1, None)
    assert "451" in (ready.last_error or "")
    assert _subjects(smtp_server, "ada@example.com") == []

    smtp_server.refuse_with = None
    clock.advance(timedelta(seconds=10))
    await worker.run_until_idle()
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    assert (await _send_jobs(app))["data_ready"].status == "done"


async def test_an_email_born_leased_to_a_worker_that_died_is_sent_by_another_once_the_lease_ends(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    """A worker that committed a job's email and died before sending it: the row is leased to it (running),
    so no other worker sends it twice meanwhile; once the lease ends, the next worker's claim takes it."""
    worker: Worker = app.state.worker
    clock.freeze(datetime(2030, 5, 1, 8, 0, tzinfo=UTC))
    request_id = await _accepted_access(client, keys, "ada@example.com")
    await worker.run_until_idle()
    async with unit_of_work(app.state.sessionmaker) as session:
        # What the dead worker's job committed: an email and its job, born leased to that worker.
        session.info[jobs.LEASE_TO] = jobs.NewJobLease(
            "dead-worker", worker.lease, frozenset({SEND_EMAIL_JOB})
        )
        request = await requests.get(session, uuid.UUID(request_id))
        assert request is not None
        await email_customer(session, app.state.ctx, request, "access_acknowledged")
        [born] = session.info[jobs.BORN_LEASED]
    assert (born.status, born.locked_by, born.attempts) == ("running", "dead-worker", 1)

    assert await worker.run_until_idle() == 0  # leased: not another worker's to send
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY])
    clock.advance(worker.lease + timedelta(seconds=1))
    assert await worker.run_until_idle() == 1
    assert sorted(_subjects(smtp_server, "ada@example.com")) == sorted([RECEIVED, READY, RECEIVED])
    async with app.state.sessionmaker() as session:
        job = await session.get(Job, born.id)
    assert job is not None
    assert (job.status, job.attempts, job.locked_by) == ("done", 2, worker.worker_id)
