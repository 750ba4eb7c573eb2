"""A manual access fulfilled with a link whose package cannot be built: the request stays processed, but the
timeline says so and the team is alerted (nothing passes silently)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings

from ..conftest import TEAM
from ..customer_tokens import signed_in
from ..helpers import detail, submit
from ..sources.http_source import HttpSourceServer
from .world import accept, emails_to, work


@pytest.fixture
def loyalty_timeout() -> str:
    """The service gives up waiting for the loyalty system after 0.2 s."""
    return "PT0.2S"


async def test_fulfilled_with_link_whose_package_cannot_be_built_alerts_the_team(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    """The operator marked it fulfilled (processed) but the link never went out: that must not pass silently."""
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "manual")
    remote.delay = 0.6
    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": True},
        headers={"Authorization": f"Bearer {keys['operator']}"},
    )
    assert fulfilled.json()["status"] == "processed"

    await work(app)

    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []
    [alert] = emails_to(settings.mail_dir, TEAM, "failed")
    assert request["id"] in alert
    assert "loyalty" in alert
    assert "no download link was sent" in alert
    assert "loyalty-secret" not in alert
    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    failed = [e for e in view["events"] if e["action"] == "download_link_failed"]
    assert len(failed) == 1
    assert failed[0]["actor"] == "system"
    assert "loyalty" in failed[0]["detail"]
