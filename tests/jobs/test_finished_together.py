"""Emails a worker sends while its other jobs are at work are marked sent (their bodies cleared), and their jobs
finished, together: two statements (outside any transaction) for those sent within a few milliseconds of each
other; an email sent beside a slow job is marked within those milliseconds, not when the round ends; one sent alone
is marked at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.core import clock
from app.core.db import unit_of_work
from app.jobs import repository as jobs
from app.models import Email, Job
from app.notifications.outbox import SEND_EMAIL_JOB
from app.worker.loop import Worker

from ..conftest import bearer
from ..factories import write_crm
from ..helpers import accept, mailbox, submit, text_of
from ..sources.http_source import HttpSourceServer
from .support import emails, http_source_yaml, statements_sent, wait_until


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, timeout="PT20S"))


async def _send_jobs(app: FastAPI) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.kind == SEND_EMAIL_JOB))).all())


async def test_a_rounds_emails_are_marked_sent_together(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    for i in range(5):
        await submit(client, keys["app"], type="access", email=f"shopper{i}@example.com")
    worker: Worker = app.state.worker
    # The five at once, and a window wide enough for their sends on any machine (5 ms in production, where a
    # burst's emails go out within it).
    worker.concurrency = 5
    worker.finish_within = timedelta(seconds=5)
    with statements_sent(app.state.engine) as sent:
        assert await worker.run_once() == 5
    writes = [
        s.sql.split(" SET ")[0].strip()
        for s in sent
        if s.sql.lstrip().startswith(("UPDATE emails", "UPDATE jobs"))
    ]

    # Every acknowledgement reached its customer, and its row says so, with nothing left of its bodies.
    assert sorted(str(m["To"]) for m in mailbox(settings.mail_dir)) == [
        f"shopper{i}@example.com" for i in range(5)
    ]
    rows = await emails(app.state.sessionmaker)
    assert [(e.status, e.text_body, e.html_body) for e in rows] == [("sent", None, None)] * 5
    assert all(e.sent_at is not None for e in rows)
    assert [(job.status, job.attempts, job.locked_until) for job in await _send_jobs(app)] == [
        ("done", 1, None)
    ] * 5
    # Recorded together: those sent while others were still at work in one statement marking them sent and one
    # finishing their jobs; the last, if alone by then, on its own at once (a record waiting for no one).
    # Without the batching, five of each. (The claim is the round's other UPDATE of jobs.)
    assert writes.count("UPDATE emails") in (1, 2)
    assert writes.count("UPDATE jobs") == writes.count("UPDATE emails")


async def test_the_emails_of_a_round_are_read_in_one_statement_and_each_sent_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    for i in range(5):
        await submit(client, keys["app"], type="access", email=f"reader{i}@example.com")
    # One of them was given up on meanwhile (as by a dead worker's last act): read with the others, not sent.
    async with unit_of_work(app.state.sessionmaker) as session:
        await session.execute(
            update(Email).where(Email.to_address == "reader3@example.com").values(status="failed")
        )
    worker: Worker = app.state.worker
    worker.concurrency = 5
    with statements_sent(app.state.engine) as sent:
        assert await worker.run_once() == 5

    # One read of the round's five emails, not one each.
    reads = [s.sql for s in sent if s.reads("emails")]
    assert len(reads) == 1, reads
    assert sorted(str(m["To"]) for m in mailbox(settings.mail_dir)) == [
        f"reader{i}@example.com" for i in (0, 1, 2, 4)
    ]
    assert {(e.to_address, e.status) for e in await emails(app.state.sessionmaker)} == {
        ("reader0@example.com", "sent"),
        ("reader1@example.com", "sent"),
        ("reader2@example.com", "sent"),
        ("reader3@example.com", "failed"),
        ("reader4@example.com", "sent"),
    }
    assert [(job.status, job.attempts) for job in await _send_jobs(app)] == [("done", 1)] * 5


async def test_the_requests_of_a_rounds_packages_are_read_in_one_statement(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    customers = ["cus_1", "cus_2", "cus_3"]
    ids = [
        (await submit(client, keys["operator"], type="access", customer_id=customer))["id"]
        for customer in customers
    ]
    worker: Worker = app.state.worker
    await worker.run_until_idle()  # the acknowledgements
    for request_id in ids:
        await accept(client, keys["operator"], request_id, "automatic")
    worker.concurrency = 3
    with statements_sent(app.state.engine) as sent:
        assert await worker.run_once() == 3

    # The three requests read once for the round, not once per package.
    reads = [s.sql for s in sent if s.reads("privacy_requests")]
    assert len(reads) == 1, reads
    for request_id in ids:
        response = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(keys["operator"]))
        assert response.json()["status"] == "processed"
    links = [m for m in mailbox(settings.mail_dir) if "/v1/downloads/" in text_of(m)]
    assert sorted(str(m["To"]) for m in links) == ["ada@example.com", "alan@example.com", "grace@example.com"]


async def test_an_email_sent_beside_a_slow_job_is_marked_sent_before_the_round_ends(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], remote: HttpSourceServer
) -> None:
    # Ada's acknowledgement and her package job are claimed in one round; the loyalty system hangs for 3 s.
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], str(request["id"]), "automatic")
    remote.delay = 3.0
    worker: Worker = app.state.worker
    round_ = asyncio.create_task(worker.run_once())
    try:

        async def acknowledged_while_the_package_waits() -> bool:
            sent = [e for e in await emails(app.state.sessionmaker) if e.status == "sent"]
            return len(sent) == 1 and len(remote.calls) > 0 and not round_.done()

        await wait_until(
            acknowledged_while_the_package_waits, within=2.5, what="the acknowledgement marked sent"
        )
        (ack,) = await _send_jobs(app)
        assert (ack.status, ack.attempts) == ("done", 1)
    finally:
        await asyncio.wait_for(round_, timeout=30)
    statuses = sorted((e.kind, e.status) for e in await emails(app.state.sessionmaker))
    assert statuses == [("access_acknowledged", "sent"), ("data_ready", "sent")]


async def test_a_job_left_running_after_its_email_was_marked_sent_does_not_send_it_again(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Any
) -> None:
    """An email is marked sent, then its job done, each statement committed alone: a worker that died between
    the two leaves an email marked sent and its job running under a lease nobody renews. Once the lease ends,
    another worker claims the job, finds the email sent and finishes the job: the customer gets it once."""
    await submit(client, keys["app"], type="access", email="ada@example.com")
    worker: Worker = app.state.worker
    assert await worker.run_once() == 1
    (job,) = await _send_jobs(app)
    assert (job.status, job.attempts) == ("done", 1)
    # The state that worker's death would have left: the email sent, its job running, the lease run out.
    async with unit_of_work(app.state.sessionmaker) as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status="running", locked_by="a-worker-that-died", locked_until=clock.now(), finished_at=None
            )
        )

    assert await worker.run_once() == 1

    (job,) = await _send_jobs(app)
    assert (job.status, job.attempts, job.locked_until) == ("done", 2, None)
    assert [str(m["To"]) for m in mailbox(settings.mail_dir)] == ["ada@example.com"]
    assert [(e.kind, e.status) for e in await emails(app.state.sessionmaker)] == [
        ("access_acknowledged", "sent")
    ]


async def _three_jobs_of(app: FastAPI, kind: str) -> list[int]:
    async with unit_of_work(app.state.sessionmaker) as session:
        queued = [await jobs.enqueue(session, kind, {"n": n}) for n in range(3)]
    return [job.id for job in queued]


async def _jobs_by_id(app: FastAPI, ids: list[int]) -> list[Job]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id))).all())


async def test_a_batch_that_cannot_be_recorded_is_recorded_job_by_job(app: FastAPI) -> None:
    """A record that fails for the batch (here: refused whenever it holds more than one item) is made again for
    each job on its own; every job ends done, once."""
    recorded: list[list[int]] = []

    async def record(_session: Any, items: list[int]) -> None:
        recorded.append(list(items))
        if len(items) > 1:
            raise RuntimeError("refused together")

    async def handler(session: Any, job: Job) -> None:
        await asyncio.sleep(0.05)  # the three are at work at once
        jobs.finish_later(session, record, job.payload["n"])

    worker: Worker = app.state.worker
    worker.handlers["finish_test"] = handler
    worker.finish_within = timedelta(seconds=5)
    ids = await _three_jobs_of(app, "finish_test")
    assert await worker.run_once() == 3

    assert [(job.status, job.attempts) for job in await _jobs_by_id(app, ids)] == [("done", 1)] * 3
    together = [batch for batch in recorded if len(batch) > 1]
    assert len(together) == 1
    assert sorted(together[0]) in ([0, 1], [0, 1, 2], [0, 2], [1, 2])
    # The batch's record failed, so each of its items was then recorded on its own, once.
    alone = [batch[0] for batch in recorded if len(batch) == 1]
    assert len(alone) == len(set(alone))
    assert set(alone) >= set(together[0])


async def test_a_job_whose_record_fails_alone_is_retried_like_any_failed_job(app: FastAPI) -> None:
    async def record(_session: Any, _items: list[int]) -> None:
        raise RuntimeError("the record cannot be written")

    async def handler(session: Any, job: Job) -> None:
        await asyncio.sleep(0.05)
        jobs.finish_later(session, record, job.payload["n"])

    worker: Worker = app.state.worker
    worker.handlers["finish_test"] = handler
    worker.retry_base = timedelta(minutes=10)  # not again within the test
    ids = await _three_jobs_of(app, "finish_test")
    assert await worker.run_once() == 3

    for job in await _jobs_by_id(app, ids):
        assert (job.status, job.attempts, job.locked_by) == ("queued", 1, None)
        assert job.last_error == "RuntimeError: the record cannot be written"


async def test_what_the_round_read_ahead_reaches_only_the_jobs_that_start_soon_after_the_claim(
    app: FastAPI,
) -> None:
    """A job that waited behind slow ones for a third of its lease reads for itself (it gets nothing read ahead),
    so a row read at the claim is never used after another worker could have taken the job; a read ahead that
    fails leaves every job to read for itself, and they all still run."""
    seen: dict[int, Any] = {}

    async def read_ahead(_session: Any, claimed: list[Job]) -> dict[Any, Any]:
        return {job.id: f"read at the claim for {job.payload['n']}" for job in claimed}

    async def handler(session: Any, job: Job) -> None:
        seen[job.payload["n"]] = session.info.get(jobs.PREFETCHED)
        await asyncio.sleep(1.2)

    worker: Worker = app.state.worker
    worker.handlers["probe_test"] = handler
    worker.prefetch["probe_test"] = read_ahead
    worker.concurrency = 1  # one after the other: the second starts some 1.2 s after the claim
    worker.lease = timedelta(seconds=3)  # a third of it: 1 s, ample for the first to start on a busy machine
    ids = await _three_jobs_of(app, "probe_test")
    assert await worker.run_once() == 3

    assert [(job.status, job.attempts) for job in await _jobs_by_id(app, ids)] == [("done", 1)] * 3
    assert seen == {0: "read at the claim for 0", 1: None, 2: None}

    async def broken(_session: Any, _claimed: list[Job]) -> dict[Any, Any]:
        raise RuntimeError("cannot read ahead")

    seen.clear()
    worker.prefetch["probe_test"] = broken
    worker.concurrency = 3
    ids = await _three_jobs_of(app, "probe_test")
    assert await worker.run_once() == 3
    assert [(job.status, job.attempts) for job in await _jobs_by_id(app, ids)] == [("done", 1)] * 3
    assert seen == {0: None, 1: None, 2: None}
