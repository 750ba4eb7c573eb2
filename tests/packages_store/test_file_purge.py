"""PACKAGE_STORE=file: an erased customer's package the volume fails to delete is deleted by the purge job's next
attempt; the link answers 410 from the erasure on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings

from ..processing.world import confirmed_deletion
from .test_s3_store import access_link, stored_at


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 2, "auto_accept_access": True, "package_store": "file:"}


async def test_a_package_the_volume_fails_to_delete_is_deleted_at_the_next_attempt(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.freeze(clock.now())
    request_id, link = await access_link(client, keys, app, settings, email="ada@example.com")
    package = Path(await stored_at(app, request_id))
    aside = refuse_deletion(package)

    await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    with caplog.at_level(logging.WARNING, logger="app.worker"):
        await app.state.worker.run_until_idle()

    assert (await client.get(link)).status_code == 410
    assert "(purge_package) attempt 1 failed, retry in" in caplog.text
    allow_deletion(package, aside)  # the volume is itself again; the package is still there

    clock.advance(settings.job_retry_base * 2)
    await app.state.worker.run_until_idle()

    assert files_in(settings.package_dir) == []
    assert (await client.get(link)).status_code == 410


def refuse_deletion(package: Path) -> Path:
    """Make the volume refuse to delete ``package`` (tests run as root, so no permission stops an unlink): a
    directory stands where it was; it is kept aside, where this returns."""
    aside = package.with_name(package.name + ".aside")
    package.rename(aside)
    package.mkdir()
    return aside


def allow_deletion(package: Path, aside: Path) -> None:
    package.rmdir()
    aside.rename(package)


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())
