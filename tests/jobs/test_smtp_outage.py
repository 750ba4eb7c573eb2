"""SMTP down while requests arrive: nothing is lost, nothing is sent twice once it is back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.models import Job

from ..conftest import TEAM
from ..helpers import submit
from ..notifications.smtp_server import free_port, running_smtp_server, smtp_settings
from .support import emails, message_id_counts

REQUESTS = 12


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(smtp_port: int) -> dict[str, Any]:
    return {**smtp_settings(smtp_port), "job_retry_base": "PT10S", "job_max_attempts": 8}


async def _send_jobs(app: FastAPI) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.kind == "send_email"))).all())


async def test_emails_wait_for_smtp_and_arrive_exactly_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_port: int
) -> None:
    worker = app.state.worker
    clock.freeze(datetime(2030, 5, 1, 8, 0, tzinfo=UTC))
    for number in range(REQUESTS):
        kind = "access" if number % 2 else "deletion"
        await submit(client, keys["app"], type=kind, email=f"person{number}@example.com")

    # Nobody listens on the port: every attempt fails, and each retry waits longer (up to 10 s, then up to
    # 20 s: jitter takes up to half off, so the jobs do not all come back at once).
    await worker.run_until_idle()
    jobs = await _send_jobs(app)
    assert len(jobs) == REQUESTS
    assert {(job.status, job.attempts) for job in jobs} == {("queued", 1)}
    assert all("127.0.0.1" in (job.last_error or "") for job in jobs)
    assert all(
        clock.now() + timedelta(seconds=5) <= clock.as_utc(job.run_at) <= clock.now() + timedelta(seconds=10)
        for job in jobs
    )
    assert await worker.run_until_idle() == 0  # not due yet: backoff
    clock.advance(timedelta(seconds=10))
    await worker.run_until_idle()
    jobs = await _send_jobs(app)
    assert {(job.status, job.attempts) for job in jobs} == {("queued", 2)}
    assert all(
        clock.now() + timedelta(seconds=10) <= clock.as_utc(job.run_at) <= clock.now() + timedelta(seconds=20)
        for job in jobs
    )

    with running_smtp_server(port=smtp_port) as server:
        # Up, but refusing for now (451: try again later): still retried, nothing counted as delivered.
        server.refuse_with = "451 4.3.0 Try again later"
        clock.advance(timedelta(seconds=20))
        await worker.run_until_idle()
        assert server.received == []
        assert {(job.status, job.attempts) for job in await _send_jobs(app)} == {("queued", 3)}
        assert {row.status for row in await emails(app.state.sessionmaker)} == {"pending"}

        server.refuse_with = None
        clock.advance(timedelta(minutes=1))
        await worker.run_until_idle()
        clock.advance(timedelta(hours=1))
        await worker.run_until_idle()  # nothing left: a late run must not send anything again

        rows = await emails(app.state.sessionmaker)
        assert len(rows) == REQUESTS
        assert {row.status for row in rows} == {"sent"}
        counts = message_id_counts(server)
        assert sorted(counts) == sorted(row.message_id for row in rows)
        assert set(counts.values()) == {1}
        assert sorted(str(m["To"]) for m in server.messages) == sorted(
            f"person{n}@example.com" for n in range(REQUESTS)
        )
    assert {job.status for job in await _send_jobs(app)} == {"done"}


async def test_a_permanent_refusal_is_not_retried(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_port: int
) -> None:
    with running_smtp_server(port=smtp_port) as server:
        server.refuse_with = "550 5.1.1 Mailbox does not exist"
        await submit(client, keys["app"], type="access", email="nobody@example.com")
        await app.state.worker.run_until_idle()
        jobs = await _send_jobs(app)
        # The acknowledgement, and the team's alert about it (refused too: it alerts no one further).
        assert [(job.status, job.attempts) for job in jobs] == [("dead", 1), ("dead", 1)]
        assert all("550" in (job.last_error or "") for job in jobs)
        rows = await emails(app.state.sessionmaker)
        assert sorted((row.kind, row.to_address, row.status) for row in rows) == [
            ("access_acknowledged", "nobody@example.com", "failed"),
            ("email_not_delivered", TEAM, "failed"),
        ]
        assert server.received == []


async def test_a_bounced_customer_email_is_on_the_timeline_and_the_team_is_told(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_port: int
) -> None:
    with running_smtp_server(port=smtp_port) as server:
        # The customer's mailbox does not exist; the team's does.
        server.refuse_for = {"nobody@example.com": "550 5.1.1 Mailbox does not exist"}
        created = await submit(client, keys["app"], type="access", email="nobody@example.com")
        await app.state.worker.run_until_idle()
        detail = (
            await client.get(
                f"/v1/privacy-requests/{created['id']}",
                headers={"Authorization": f"Bearer {keys['operator']}"},
            )
        ).json()
        [failed] = [event for event in detail["events"] if event["action"] == "email_failed"]
        assert failed["actor"] == "system"
        assert failed["detail"].startswith("the access_acknowledged email could not be delivered: ")
        assert "550" in failed["detail"]
        [alert] = [m for m in server.messages if str(m["To"]) == TEAM]
        body = alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert created["id"] in body
        assert (
            f"The access_acknowledged email about request {created['id']} to the customer could not" in body
        )
        assert "550 5.1.1 Mailbox does not exist" in body
        assert "Reach them another way" in body
        assert "accept it again" not in body  # nothing failed that accepting again would retry
        assert [str(m["To"]) for m in server.messages] == [TEAM]
