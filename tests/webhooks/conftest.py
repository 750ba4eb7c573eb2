"""The webhook tests' world: the default CRM, a real receiver on 127.0.0.1, and helpers to subscribe it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings

from ..conftest import bearer, make_settings
from .receiver import Receiver, running_receiver

# The webhooks' retry schedule in these tests unless a module sets its own: a receiver that never answers is
# given up on within a second, as tests/conftest.py's JOB_RETRY_BASE does for the other jobs.
SHORT_SCHEDULE = {
    "webhook_retry_base": "PT0.01S",
    "webhook_retry_max_delay": "PT0.1S",
    "webhook_retry_for": "PT1S",
}


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, sources_file: Path, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(database_url, tmp_path, sources_file, **{**SHORT_SCHEDULE, **settings_overrides})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


async def subscribe(
    client: httpx.AsyncClient, admin_key: str, receiver: Receiver, events: list[str], **extra: Any
) -> dict[str, Any]:
    """Subscribe ``receiver`` to ``events``; it learns the secret the answer shows once."""
    response = await client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": events, **extra}, headers=bearer(admin_key)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secret = created["secret"]
    return created


async def deliveries(
    client: httpx.AsyncClient, admin_key: str, webhook_id: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/v1/webhooks/{webhook_id}/deliveries", params=params, headers=bearer(admin_key)
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page
