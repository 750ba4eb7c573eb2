"""One retry budget per job: inside a job the loyalty source is asked once per job attempt, an answer that
retrying cannot help (a 4xx, a broken answer) fails the request at once, and one that can (5xx, 429) is asked
again by the next job attempt, with the worker's backoff."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.core.logging import CONTEXT_FILTER
from app.models import Job

from ..conftest import TEAM
from ..customer_tokens import signed_in
from ..helpers import detail, submit
from ..sources.http_source import HttpSourceServer
from .world import accept, confirmed_deletion, emails_to, snapshot_rows, work


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 3}


async def jobs_of(app: FastAPI, kind: str) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.kind == kind))).all())


async def automatic_access(client: httpx.AsyncClient, keys: dict[str, str]) -> str:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "automatic")
    return str(request["id"])


async def test_a_source_answering_404_on_delete_fails_the_deletion_at_once(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    before = snapshot_rows(world)
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    remote.fail_next, remote.fail_status = 1, 404

    await work(app)

    assert [(method, query) for method, _, query, _ in remote.calls] == [("DELETE", "dry_run=true")]
    [job] = await jobs_of(app, "erasure")
    assert (job.status, job.attempts) == ("dead", 1)
    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    assert view["result"]["reasons"] == [
        "gave up after 1 attempt: source 'loyalty': DELETE (dry run) answered HTTP 404"
    ]
    assert snapshot_rows(world) == before  # nothing erased anywhere
    [alert] = emails_to(settings.mail_dir, TEAM, "failed")
    assert "loyalty" in alert


async def test_a_source_answering_400_fails_the_access_package_at_once(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    remote.fail_next, remote.fail_status = 1, 400
    request_id = await automatic_access(client, keys)

    await work(app)

    assert [method for method, *_ in remote.calls] == ["GET"]
    [job] = await jobs_of(app, "access_package")
    assert (job.status, job.attempts) == ("dead", 1)
    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    assert view["result"]["reasons"] == ["gave up after 1 attempt: source 'loyalty': GET answered HTTP 400"]
    assert list(settings.package_dir.glob("*")) == []
    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []


@pytest.mark.parametrize("status", [503, 429])
async def test_a_source_failing_twice_then_answering_succeeds_within_one_job_budget(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
    status: int,
) -> None:
    assert settings.job_max_attempts == 3
    remote.fail_next, remote.fail_status = 2, status
    request_id = await automatic_access(client, keys)

    await work(app)

    # One call per job attempt: the source's own `attempts: 2` does not multiply the job's three.
    assert [method for method, *_ in remote.calls] == ["GET"] * 3
    [job] = await jobs_of(app, "access_package")
    assert (job.status, job.attempts) == ("done", 3)
    assert (await detail(client, keys["operator"], request_id))["status"] == "processed"
    assert len(emails_to(settings.mail_dir, "ada@example.com", "ready")) == 1


async def test_a_jobs_log_lines_carry_its_id_and_kind(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    remote: HttpSourceServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(CONTEXT_FILTER)  # what the CLI's handler does (app.core.logging)
    remote.fail_next, remote.fail_status = 1, 503
    await automatic_access(client, keys)
    caplog.clear()

    with caplog.at_level(logging.INFO):
        await work(app)

    [job] = await jobs_of(app, "access_package")
    failed = [record for record in caplog.records if "attempt 1 failed" in record.getMessage()]
    assert [(getattr(r, "job_id", None), getattr(r, "job_kind", None)) for r in failed] == [
        (str(job.id), "access_package")
    ]
    assert f" job_id={job.id} job_kind=access_package" in getattr(failed[0], "context", "")
    # Every line the worker wrote while running jobs names the job it was written for.
    assert all(getattr(r, "job_id", None) for r in caplog.records if r.name.startswith("app.worker"))
