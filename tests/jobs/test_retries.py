"""Automatic work that keeps failing: retried with backoff, then the request fails and the team is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.core.config import Settings
from app.models import Job

from ..conftest import TEAM, bearer
from ..factories import write_crm
from ..helpers import detail, mailbox, submit, text_of
from ..sources.http_source import HttpSourceServer
from .support import http_source_yaml


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, attempts=1))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 3, "job_retry_base": "PT5S"}


async def _package_job(app: FastAPI) -> Job:
    async with app.state.sessionmaker() as session:
        jobs: list[Job] = list((await session.scalars(select(Job).where(Job.kind == "access_package"))).all())
    assert len(jobs) == 1
    return jobs[-1]


async def test_failing_job_gives_up_after_max_attempts_and_the_team_is_told(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    worker = app.state.worker
    clock.freeze(datetime(2030, 6, 3, 12, 0, tzinfo=UTC))
    remote.fail_next = 10**6  # the loyalty system answers 500, always
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    accepted = await client.post(
        f"/v1/privacy-requests/{request['id']}/accept",
        json={"handling": "automatic"},
        headers=bearer(keys["operator"]),
    )
    assert accepted.status_code == 200, accepted.text

    # Attempt 1 fails; the retry waits JOB_RETRY_BASE, then twice that (at most: jitter takes up to half off).
    await worker.run_until_idle()
    job = await _package_job(app)
    assert (job.status, job.attempts) == ("queued", 1)
    assert "loyalty" in (job.last_error or "")
    assert (
        clock.now() + timedelta(seconds=2.5) <= clock.as_utc(job.run_at) <= clock.now() + timedelta(seconds=5)
    )
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "in_progress"
    clock.advance(timedelta(seconds=5))
    await worker.run_until_idle()
    job = await _package_job(app)
    assert (job.status, job.attempts) == ("queued", 2)
    assert (
        clock.now() + timedelta(seconds=5) <= clock.as_utc(job.run_at) <= clock.now() + timedelta(seconds=10)
    )

    # Attempt 3 is the last (JOB_MAX_ATTEMPTS=3).
    clock.advance(timedelta(seconds=10))
    await worker.run_until_idle()
    job = await _package_job(app)
    assert (job.status, job.attempts) == ("dead", 3)
    gets = [call for call in remote.calls if call[0] == "GET"]
    assert len(gets) == 3

    failed = await detail(client, keys["operator"], request["id"])
    assert failed["status"] == "failed"
    [reason] = failed["result"]["reasons"]
    assert "3 attempts" in reason
    assert "loyalty" in reason
    assert failed["events"][-1]["action"] == "failed"
    assert failed["events"][-1]["actor"] == "system"

    # Nothing more happens later: the job is dead, no new attempt.
    clock.advance(timedelta(hours=1))
    await worker.run_until_idle()
    assert len([call for call in remote.calls if call[0] == "GET"]) == 3

    team = [m for m in mailbox(settings.mail_dir) if m["To"] == TEAM]
    assert len(team) == 1
    assert str(team[0]["Subject"]) == f"Privacy request failed: access request {request['id']}"
    body = text_of(team[0])
    assert "loyalty" in body
    assert f"http://privacy.brand.test/v1/privacy-requests/{request['id']}" in body
    customer = [m for m in mailbox(settings.mail_dir) if m["To"] == "ada@example.com"]
    assert [str(m["Subject"]) for m in customer] == ["We have received your request for a copy of your data"]

    # The source recovers; the operator accepts again and the customer gets the data.
    remote.fail_next = 0
    retried = await client.post(
        f"/v1/privacy-requests/{request['id']}/accept",
        json={"handling": "automatic"},
        headers=bearer(keys["operator"]),
    )
    assert retried.status_code == 200, retried.text
    await worker.run_until_idle()
    processed = await detail(client, keys["operator"], request["id"])
    assert processed["status"] == "processed"
    assert processed["result"] is None
    subjects = [str(m["Subject"]) for m in mailbox(settings.mail_dir) if m["To"] == "ada@example.com"]
    assert subjects.count("Your data is ready to download") == 1
