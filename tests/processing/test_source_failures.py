"""A source that does not answer: retried inside the job and by the worker, then the request fails with a
reason that names the source and holds no secret."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings

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
    write_world,
)

TEAM = "privacy-team@brand.test"


@pytest.fixture
def sources_file(world: Path, remote: HttpSourceServer) -> Path:
    """The world with a loyalty source that gives up waiting after 0.2 s."""
    return write_world(world, loyalty_url=remote.url, loyalty_timeout="PT0.2S")


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
    # 2 tries per job attempt (the source's `attempts`) x JOB_MAX_ATTEMPTS job attempts, all dry runs.
    assert [(method, query) for method, _, query, _ in remote.calls] == [("DELETE", "dry_run=true")] * 4
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
    assert len([call for call in remote.calls if call[0] == "GET"]) == 4
    assert list(settings.package_dir.glob("*")) == []  # no half-built package left behind
    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []

    remote.delay = 0
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    assert len(emails_to(settings.mail_dir, "ada@example.com", "ready")) == 1
