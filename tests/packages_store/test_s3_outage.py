"""The store away: a download answers 503 (the package is still there), an expired package whose deletion fails
stays due and is deleted at the next sweep, and the sweep's other work goes on. An erased customer's package is
deleted by a job that waits out the outage. Packages written while PACKAGE_STORE was `file:` keep working after
the switch to S3."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.core.config import Settings
from app.models import Download

from ..conftest import make_settings, running_app
from ..processing.world import confirmed_deletion, events
from .conftest import S3Server, objects_in
from .test_s3_store import access_link, stored_at


@pytest.fixture
def s3() -> Iterator[S3Server]:
    """A server of this test's own, which it stops and starts again."""
    server = S3Server()
    server.start()
    yield server
    if server.running:
        server.stop()


async def test_store_outage_and_packages_from_before_the_switch(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
    database_url: str,
    tmp_path: Path,
    sources_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Before the switch: the same database and mailbox, PACKAGE_STORE=file:.
    before = make_settings(
        database_url,
        tmp_path,
        sources_file,
        auto_accept_access=True,
        job_max_attempts=2,
        package_store="file:",
    )
    async with (
        running_app(before) as file_app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=file_app), base_url="http://testserver"
        ) as file_client,
    ):
        ada_access, ada_link = await access_link(file_client, keys, file_app, before, email="ada@example.com")
    ada_file = Path(await stored_at(app, ada_access))
    assert ada_file.parent == settings.package_dir
    grace_access, grace_link = await access_link(client, keys, app, settings, email="grace@example.com")
    assert (await stored_at(app, grace_access)).startswith(f"s3://{bucket}/")
    assert (await client.get(ada_link)).status_code == 200  # the older package, from the volume

    s3.stop()
    away = await client.get(grace_link)
    assert away.status_code == 503
    assert away.json()["error"] == "unavailable"
    assert away.headers["retry-after"] == "30"

    clock.advance(settings.download_ttl + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="app.downloads"):
        await work_once(app)
    assert "the package store is unavailable" in caplog.text
    assert not await asyncio.to_thread(
        ada_file.exists
    )  # the sweep went on past the package it could not delete
    assert ("package_purged", "system") in await events(client, keys["operator"], ada_access)
    assert ("package_purged", "system") not in await events(client, keys["operator"], grace_access)
    for link in (ada_link, grace_link):
        assert (await client.get(link)).status_code == 410

    s3.start()  # back, on the same port, with its objects
    assert len(await objects_in(s3, bucket)) == 1
    await work_once(app)

    assert await objects_in(s3, bucket) == {}
    assert ("package_purged", "system") in await events(client, keys["operator"], grace_access)


async def test_an_erasure_while_the_store_is_away_deletes_the_package_once_it_is_back(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.freeze(clock.now())
    request_id, link = await access_link(client, keys, app, settings, email="ada@example.com")
    [key] = await objects_in(s3, bucket)

    s3.stop()
    await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    with caplog.at_level(logging.WARNING, logger="app.worker"):
        await work_once(app)  # the erasure, and the package's deletion failing

    gone = await client.get(link)
    assert gone.status_code == 410  # from the erasure's commit on, whatever the store does
    assert gone.json()["detail"] == "This download link no longer works: the data was erased."
    assert "(purge_package) attempt 1 failed, retry in" in caplog.text
    s3.start()
    assert set(await objects_in(s3, bucket)) == {key}  # still there: nothing deleted it yet
    await work_once(app)
    assert set(await objects_in(s3, bucket)) == {key}  # the job waits for its backoff

    clock.advance(settings.job_retry_base * 2)
    await work_once(app)

    assert await objects_in(s3, bucket) == {}
    assert (await client.get(link)).status_code == 410
    assert ("package_purged", "system") in await events(client, keys["operator"], request_id)


async def test_the_expiry_sweep_asks_an_unavailable_store_once(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    links = [
        (await access_link(client, keys, app, settings, email=email))[1]
        for email in ("ada@example.com", "grace@example.com")
    ]
    assert len(await objects_in(s3, bucket)) == 2

    s3.stop()
    clock.advance(settings.download_ttl + timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="app.downloads"):
        await asyncio.wait_for(work_once(app), timeout=30)

    warnings = [r.getMessage() for r in caplog.records if r.name == "app.downloads"]
    assert len(warnings) == 1
    assert warnings[0].startswith("the package store is unavailable")
    async with app.state.sessionmaker() as session:
        purged = (await session.scalars(select(Download.purged_at))).all()
    assert purged == [None, None]  # both tried again at the next sweep
    for link in links:
        assert (await client.get(link)).status_code == 410  # expired all the same

    s3.start()
    await work_once(app)
    assert await objects_in(s3, bucket) == {}


async def work_once(app: FastAPI) -> None:
    """One sweep and whatever jobs are due."""
    await app.state.worker.run_until_idle()
