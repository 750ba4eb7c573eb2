"""Stopping `serve` while a job runs longer than WORKER_SHUTDOWN_GRACE: the job is cancelled (its lease hands it
to another worker) and the app still closes everything, instead of a TimeoutError that skipped the clean-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.main import create_app
from app.models import Job

from ..conftest import bearer, client_of, role_keys
from ..customer_tokens import signed_in
from ..factories import write_crm
from ..helpers import submit
from ..sources.http_source import HttpSourceServer
from .support import http_source_yaml, wait_until


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    return write_crm(
        tmp_path / "crm", extra_sources=http_source_yaml(remote.url, timeout="PT30S", attempts=1)
    )


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"worker_shutdown_grace": "PT0.5S", "worker_poll_interval": "PT0.05S"}


async def test_a_long_job_at_shutdown_is_cancelled_and_the_app_still_closes(
    settings: Settings, remote: HttpSourceServer
) -> None:
    remote.delay = 20  # the loyalty system hangs far longer than the grace period
    application = create_app(settings, run_worker=True)
    lifespan = application.router.lifespan_context(application)
    await lifespan.__aenter__()
    try:
        keys = await role_keys(application)
        async with client_of(application) as client:
            request = await submit(client, keys["app"], type="access", headers=signed_in("cus_1"))
            accepted = await client.post(
                f"/v1/privacy-requests/{request['id']}/accept",
                json={"handling": "automatic"},
                headers=bearer(keys["operator"]),
            )
            assert accepted.status_code == 200

        async def job_waits_on_the_source() -> bool:
            return any(call[0] == "GET" for call in remote.calls)

        await wait_until(job_waits_on_the_source, within=15, what="the package job to call the source")
        engine = application.state.engine
    finally:
        await lifespan.__aexit__(None, None, None)  # raised TimeoutError before, skipping the clean-up

    assert engine.pool.checkedout() == 0, "the engine was disposed"
    async with application.state.sessionmaker() as session:
        [job] = (await session.scalars(select(Job).where(Job.kind == "access_package"))).all()
    assert job.status == "running", "left under its lease for another worker to take over"
    await engine.dispose()
