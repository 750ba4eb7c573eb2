"""A source that does not answer: retried by the worker (one attempt per job attempt: the job's retries are
the only ones), then the request fails with a reason that names the source and holds no secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings

from ..conftest import TEAM
from ..customer_tokens import signed_in
from ..helpers import detail, submit
from ..sources.http_source import HttpSourceServer
from .world import (
    LOYALTY_TOKEN,
    accept,
    confirmed_deletion,
    emails_to,
    snapshot_rows,
    work,
)


@pytest.fixture
def loyalty_timeout() -> str:
    """The service gives up waiting for the loyalty system after 0.2 s."""
    return "PT0.2S"


async def test_timing_out_source_fails_deletion_after_job_max_attempts(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    assert settings.job_max_attempts == 2
    before = snapshot_rows(world)
    remote.delay = 0.6
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")

    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    [reason] = view["result"]["reasons"]
    assert "loyalty" in reason
    assert "no answer within 0.2s" in reason
    assert "after 2 attempts" in reason
    assert LOYALTY_TOKEN not in reason
    assert "loyalty-secret" not in reason
    # One try per job attempt (the source's `attempts` apply outside jobs only) x JOB_MAX_ATTEMPTS, all dry runs.
    assert [(method, query) for method, _, query, _ in remote.calls] == [("DELETE", "dry_run=true")] * 2
    assert snapshot_rows(world) == before
    [alert] = emails_to(settings.mail_dir, TEAM, "failed")
    assert "loyalty" in alert
    assert "loyalty-secret" not in alert
    failed_event = next(e for e in view["events"] if e["action"] == "failed")
    assert "loyalty-secret" not in failed_event["detail"]

    remote.delay = 0
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)
    assert (await detail(client, keys["operator"], request_id))["status"] == "processed"


async def test_timing_out_source_fails_automatic_access(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    remote.delay = 0.6
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "automatic")

    await work(app)

    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "failed"
    [reason] = view["result"]["reasons"]
    assert "loyalty" in reason
    assert "no answer within 0.2s" in reason
    assert "loyalty-secret" not in reason
    assert len([call for call in remote.calls if call[0] == "GET"]) == 2  # one per job attempt
    assert list(settings.package_dir.glob("*")) == []  # no half-built package left behind
    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []

    remote.delay = 0
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    assert len(emails_to(settings.mail_dir, "ada@example.com", "ready")) == 1
