"""Real ``python -m app worker`` processes: killed mid-job, several at once, woken by NOTIFY."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from app.core import clock
from app.core.config import Settings
from app.core.db import unit_of_work
from app.models import Email, Job
from app.notifications.outbox import enqueue_email

from ..factories import write_crm
from ..helpers import accept, detail, submit
from ..notifications.smtp_server import SmtpServer, free_port, smtp_settings
from ..sources.http_source import HttpSourceServer
from .smtp_sink import smtp_sink
from .support import (
    emails,
    http_source_yaml,
    job_statuses,
    message_id_counts,
    wait_until,
    worker_processes,
)


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, timeout="PT20S"))


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return smtp_settings(smtp_server.port)


async def _job(app: FastAPI, kind: str) -> Job:
    async with app.state.sessionmaker() as session:
        jobs: list[Job] = list((await session.scalars(select(Job).where(Job.kind == kind))).all())
    assert len(jobs) == 1
    return jobs[0]


@pytest.mark.slow
async def test_a_killed_workers_job_is_taken_over_after_its_lease(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    smtp_server: SmtpServer,
    remote: HttpSourceServer,
    tmp_path: Path,
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    remote.delay = 5.0  # the loyalty system hangs: the package job is still running when the worker dies

    with worker_processes(settings, tmp_path) as workers:
        first = workers.start("first", JOB_LEASE="PT2S")

        async def acknowledged_and_hanging() -> bool:
            sent = [e for e in await emails(app.state.sessionmaker) if e.status == "sent"]
            job = await _job(app, "access_package")
            return len(sent) == 1 and job.status == "running" and len(remote.calls) > 0

        await wait_until(
            acknowledged_and_hanging, within=30, what="the package job to run", output=workers.output
        )
        first.kill()
        orphan = await _job(app, "access_package")
        assert (orphan.status, orphan.attempts) == ("running", 1)
        assert orphan.locked_by is not None
        assert str(first.pid) in orphan.locked_by

        remote.delay = 0.0
        workers.start("second", JOB_LEASE="PT2S")

        async def done() -> bool:
            return (await _job(app, "access_package")).status == "done"

        await wait_until(done, within=40, what="the second worker to finish the job", output=workers.output)
        finished = await _job(app, "access_package")
        assert finished.attempts == 2
        assert str(first.pid) not in (finished.locked_by or "")

        async def all_sent() -> bool:
            rows = await emails(app.state.sessionmaker)
            return len(rows) == 2 and {row.status for row in rows} == {"sent"}

        await wait_until(all_sent, within=20, what="the data-ready email", output=workers.output)
        workers.assert_alive()

    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    subjects = sorted(str(m["Subject"]) for m in smtp_server.messages)
    assert subjects == [
        "We have received your request for a copy of your data",
        "Your data is ready to download",
    ]
    assert set(message_id_counts(smtp_server).values()) == {1}


@pytest.mark.slow
async def test_three_workers_deliver_a_thousand_emails_each_once(
    app: FastAPI, settings: Settings, is_postgres: bool, tmp_path: Path
) -> None:
    if not is_postgres:
        pytest.skip("several workers need PostgreSQL (FOR UPDATE SKIP LOCKED); set TEST_DATABASE_URL")
    # 1,000 keeps this under a minute on a loaded 2-CPU machine (about 20 emails a second across the three
    # workers, one SMTP connection per email); the point is that no email is lost or sent twice.
    total = 1000
    async with unit_of_work(app.state.sessionmaker) as session:
        for number in range(total):
            await enqueue_email(
                session,
                kind="access_acknowledged",
                to=f"customer{number}@example.com",
                locale="de" if number % 2 else "en",
                context={
                    "request": {
                        "id": f"00000000-0000-0000-0000-{number:012d}",
                        "type": "access",
                        "regulation": "gdpr",
                        "email": f"customer{number}@example.com",
                        "received_at": clock.now(),
                        "due_at": clock.now(),
                        "locale": "en",
                    },
                    "base_url": settings.base_url,
                },
                request_id=None,
                mail_from_domain="brand.test",
                secret_key=app.state.ctx.secret_key,
                settings=settings,
            )

    port = free_port()
    with smtp_sink(port, tmp_path) as sink, worker_processes(settings, tmp_path) as workers:
        for name in ("one", "two", "three"):
            workers.start(name, SMTP_PORT=str(port))

        async def all_done() -> bool:
            return (await job_statuses(app.state.sessionmaker))["done"] == total

        await wait_until(
            all_done, within=55, what=f"{total} emails to be sent", output=workers.output, interval=0.5
        )
        workers.assert_alive()
        received = sink.received()

    async with app.state.sessionmaker() as session:
        unsent = await session.scalar(select(func.count()).select_from(Email).where(Email.status != "sent"))
        expected = {row.message_id: row.to_address for row in (await session.scalars(select(Email))).all()}
        workers_used = set((await session.scalars(select(Job.locked_by).distinct())).all())
    assert unsent == 0
    counts = Counter(message_id for message_id, _to in received)
    assert {mid: n for mid, n in counts.items() if n > 1} == {}
    assert set(counts) == set(expected)
    assert all(expected[message_id] == to for message_id, to in received)
    assert len(workers_used) == 3, workers_used


@pytest.mark.slow
async def test_an_idle_worker_is_woken_by_notify(
    app: FastAPI, settings: Settings, smtp_server: SmtpServer, is_postgres: bool, tmp_path: Path
) -> None:
    if not is_postgres:
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL; set TEST_DATABASE_URL")
    database = settings.database_url.rpartition("/")[2]

    with worker_processes(settings, tmp_path) as workers:
        workers.start("sleepy", WORKER_POLL_INTERVAL="PT60S")

        async def listening() -> bool:
            async with app.state.sessionmaker() as session:
                count = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND query ILIKE 'LISTEN %'"
                    ),
                    {"db": database},
                )
            return bool(count)

        await wait_until(listening, within=20, what="the worker to LISTEN", output=workers.output)
        await asyncio.sleep(1.0)  # let it finish the round its first wake started; it now waits up to 60 s

        async with unit_of_work(app.state.sessionmaker) as session:
            await enqueue_email(
                session,
                kind="confirmation_expired",
                to="ada@example.com",
                locale="en",
                context={
                    "request": {
                        "id": "00000000-0000-0000-0000-000000000001",
                        "type": "deletion",
                        "regulation": "gdpr",
                        "email": "ada@example.com",
                        "received_at": clock.now(),
                        "due_at": clock.now(),
                        "locale": "en",
                    }
                },
                request_id=None,
                mail_from_domain="brand.test",
                secret_key=app.state.ctx.secret_key,
                settings=settings,
            )

        async def sent() -> bool:
            return len(smtp_server.received) == 1

        # It polls every 60 s: only NOTIFY brings the email out within 15 s.
        await wait_until(
            sent, within=15, what="the worker woken by NOTIFY to send (not polling)", output=workers.output
        )
        workers.assert_alive()
    assert (await job_statuses(app.state.sessionmaker)) == {"done": 1}


def _nice_values(pid: int) -> list[int]:
    """The nice value of every thread of process ``pid`` (field 19 of /proc/PID/task/TID/stat)."""
    values = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        # The command name (field 2) may hold spaces: the fields after it start past its closing bracket.
        fields = stat.read_text().rpartition(")")[2].split()
        values.append(int(fields[16]))
    return values


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread priorities from Linux /proc")
@pytest.mark.parametrize(("setting", "expected"), [(None, 10), ("15", 15), ("0", None)])
async def test_a_standalone_worker_yields_the_cpu_to_the_api(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    smtp_server: SmtpServer,
    tmp_path: Path,
    setting: str | None,
    expected: int | None,
) -> None:
    """`worker` runs at WORKER_NICE (default 10): every thread, those that read sources and build packages
    included, so a backlog of jobs takes only the CPU that `serve` on the same host leaves."""
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    env = {} if setting is None else {"WORKER_NICE": setting}
    with worker_processes(settings, tmp_path) as workers:
        worker = workers.start("nice", **env)

        async def delivered() -> bool:
            rows = await emails(app.state.sessionmaker)
            return len(rows) == 2 and {row.status for row in rows} == {"sent"}

        await wait_until(delivered, within=40, what="the package and its email", output=workers.output)
        workers.assert_alive()
        values = _nice_values(worker.pid)

    # The package was built on threads besides the event loop's: each of them is counted.
    assert len(values) > 1, values
    # A worker started nicer than the setting (as this suite may be) keeps its own value.
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert set(values) == {own if expected is None else max(expected, own)}
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
