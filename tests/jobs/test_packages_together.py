"""The packages a worker's jobs build meanwhile are recorded together: each request processed and its download
link emailed, in one transaction with the jobs done (one INSERT per table for the lot). A record made together
is all or nothing; a batch that cannot be made is made job by job; a job whose record is not made (its lease
lost to another worker) leaves no package behind."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.core.db import unit_of_work
from app.jobs import repository as jobs
from app.models import Download, Job
from app.requests.actions import ACCESS_PACKAGE
from app.worker.loop import Worker

from ..conftest import bearer
from ..factories import write_crm
from ..helpers import accept, mailbox, submit, text_of
from ..processing.world import link_in
from ..sources.http_source import HttpSourceServer
from .support import http_source_yaml, statements_sent, wait_until


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, timeout="PT20S"))


async def _accepted(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, customers: list[str]
) -> list[str]:
    ids = [
        str((await submit(client, keys["operator"], type="access", customer_id=customer))["id"])
        for customer in customers
    ]
    await app.state.worker.run_until_idle()  # the acknowledgements
    for request_id in ids:
        await accept(client, keys["operator"], request_id, "automatic")
    return ids


async def test_a_rounds_packages_are_recorded_together_and_each_customer_gets_their_own(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    ids = await _accepted(client, keys, app, ["cus_1", "cus_2", "cus_3"])
    worker: Worker = app.state.worker
    worker.concurrency = 3
    worker.finish_within = timedelta(seconds=5)  # wide enough on any machine: the round's end flushes it
    with statements_sent(app.state.engine) as sent:
        assert await worker.run_once() == 3

    for request_id in ids:
        response = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(keys["operator"]))
        assert response.json()["status"] == "processed"
    # Each link serves the package of the customer it was emailed to, and only theirs.
    links = [m for m in mailbox(settings.mail_dir) if "/v1/downloads/" in text_of(m)]
    assert sorted(str(m["To"]) for m in links) == ["ada@example.com", "alan@example.com", "grace@example.com"]
    for message in links:
        package = await client.get(link_in(text_of(message), "/v1/downloads/"))
        assert package.status_code == 200
        data = json.loads(zipfile.ZipFile(io.BytesIO(package.content)).read("data.json"))
        assert data["customer"]["email"] == str(message["To"])
    # Recorded together: one statement adds the three downloads, one their emails (rows with keys made by
    # the service; those numbered by the database go one per row on SQLite).
    inserts = [s.sql.split("(")[0].strip() for s in sent if s.sql.lstrip().startswith("INSERT")]
    assert inserts.count("INSERT INTO downloads") == 1, inserts
    assert inserts.count("INSERT INTO emails") == 1, inserts
    # The three requests moved to processed by one statement, their finished manual steps read by one.
    assert len([s for s in sent if s.sql.lstrip().startswith("UPDATE privacy_requests")]) == 1
    assert len([s for s in sent if "FROM manual_tasks" in s.sql]) == 1


async def test_a_package_whose_job_was_taken_over_leaves_nothing_behind(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Any,
    remote: HttpSourceServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker stalled past its lease while the loyalty system answered slowly, and another worker took the
    job: this worker's package is not recorded, no link is emailed, and its encrypted file is removed."""
    (request_id,) = await _accepted(client, keys, app, ["cus_1"])
    caplog.set_level(logging.WARNING, logger="app.worker")
    remote.delay = 1.5
    worker: Worker = app.state.worker
    round_ = asyncio.create_task(worker.run_once())
    try:

        async def reading() -> bool:
            return len(remote.calls) > 0

        await wait_until(reading, within=10, what="the package job reading the loyalty system")
        async with unit_of_work(app.state.sessionmaker) as session:
            await session.execute(
                update(Job).where(Job.kind == ACCESS_PACKAGE).values(locked_by="another-worker")
            )
    finally:
        await asyncio.wait_for(round_, timeout=30)

    response = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(keys["operator"]))
    assert response.json()["status"] == "in_progress"
    assert not [m for m in mailbox(settings.mail_dir) if "/v1/downloads/" in text_of(m)]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Download)) == 0
        job = await session.scalar(select(Job).where(Job.kind == ACCESS_PACKAGE))
    assert job is not None
    assert (job.status, job.locked_by) == ("running", "another-worker")
    # The package was built and left for its record, which found the job another worker's; its file is gone.
    assert any("before its finish was recorded" in r.getMessage() for r in caplog.records)
    assert await asyncio.to_thread(_files_in, Path(settings.package_dir)) == []


@pytest.mark.parametrize("settings_overrides", [{"worker_concurrency": 2}])
async def test_worker_concurrency_bounds_the_jobs_at_work_and_a_round_claims_twice_as_many(
    app: FastAPI,
) -> None:
    at_work = 0
    most = 0

    async def slow(_session: Any, _job: Job) -> None:
        nonlocal at_work, most
        at_work += 1
        most = max(most, at_work)
        await asyncio.sleep(0.2)
        at_work -= 1

    worker: Worker = app.state.worker
    worker.handlers["slow_test"] = slow
    await _jobs_of(app, "slow_test", 5)
    assert await worker.run_once() == 4  # twice WORKER_CONCURRENCY, of the five due
    assert most == 2
    assert await worker.run_once() == 1


def _files_in(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


async def _jobs_of(app: FastAPI, kind: str, count: int) -> list[int]:
    async with unit_of_work(app.state.sessionmaker) as session:
        queued = [await jobs.enqueue(session, kind, {"n": n}) for n in range(count)]
    return [job.id for job in queued]


async def _by_id(app: FastAPI, ids: list[int]) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id))).all())


async def _markers(app: FastAPI) -> list[int]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(select(Job).where(Job.kind == "marker"))
        return sorted(job.payload["n"] for job in rows)


async def test_a_record_made_together_is_all_or_nothing_and_a_failed_batch_is_made_job_by_job(
    app: FastAPI,
) -> None:
    """The batch's record writes a row per item, then fails (it refuses more than one item): none of its rows
    stay, and each job's record is then made on its own, once."""
    batches: list[list[int]] = []

    async def record(session: Any, items: list[int]) -> None:
        batches.append(list(items))
        for n in items:
            await jobs.enqueue(session, "marker", {"n": n})
        await session.flush()
        if len(items) > 1:
            raise RuntimeError("refused together")

    async def handler(session: Any, job: Job) -> None:
        await asyncio.sleep(0.05)  # the three are at work at once
        jobs.finish_later(session, record, job.payload["n"], together=True)

    worker: Worker = app.state.worker
    worker.handlers["together_test"] = handler
    worker.finish_within = timedelta(seconds=5)
    ids = await _jobs_of(app, "together_test", 3)
    assert await worker.run_once() == 3

    assert sorted(map(sorted, batches)) == [[0], [0, 1, 2], [1], [2]]
    assert await _markers(app) == [0, 1, 2]  # the failed batch's rows rolled back, each alone's kept
    assert [(job.status, job.attempts) for job in await _by_id(app, ids)] == [("done", 1)] * 3


async def test_a_job_taken_over_is_left_out_of_its_batch_and_what_it_left_is_abandoned(app: FastAPI) -> None:
    abandoned: list[int] = []
    recorded: list[list[int]] = []

    async def record(_session: Any, items: list[int]) -> None:
        recorded.append(sorted(items))

    async def handler(session: Any, job: Job) -> None:
        n = job.payload["n"]
        if n == 1:  # another worker takes this one over while it runs
            async with unit_of_work(app.state.sessionmaker) as other:
                await other.execute(update(Job).where(Job.id == job.id).values(locked_by="another-worker"))
        await asyncio.sleep(0.05)

        async def abandon() -> None:
            abandoned.append(n)

        jobs.finish_later(session, record, n, together=True, abandon=abandon)

    worker: Worker = app.state.worker
    worker.handlers["together_test"] = handler
    worker.finish_within = timedelta(seconds=5)
    ids = await _jobs_of(app, "together_test", 3)
    assert await worker.run_once() == 3

    # The batch saw the lost lease before recording anything; then each alone: 1's record rolled back.
    assert sorted(recorded) == [[0], [1], [2]]
    assert abandoned == [1]
    assert [(job.status, job.locked_by) for job in await _by_id(app, ids)] == [
        ("done", worker.worker_id),
        ("running", "another-worker"),
        ("done", worker.worker_id),
    ]
