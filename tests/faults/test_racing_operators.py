"""Two (or ten) operators acting on one request at once: exactly one wins, the others get 409."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import bearer
from ..helpers import detail, submit

pytestmark = pytest.mark.slow

RACERS = 10


@pytest.fixture
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("racing operators need PostgreSQL's row locks and concurrency; set TEST_DATABASE_URL")


Call = tuple[str, str, dict[str, object] | None]


async def _race(client: httpx.AsyncClient, key: str, requests: list[Call]) -> list[int]:
    """Send ``requests`` at once (all released by one event) and return their status codes."""
    start = asyncio.Event()

    async def one(method: str, path: str, body: dict[str, object] | None) -> int:
        await start.wait()
        response = await client.request(method, path, json=body, headers=bearer(key))
        assert response.status_code in (200, 409), response.text
        if response.status_code == 409:
            assert response.json()["error"] == "invalid_transition"
        return response.status_code

    tasks = [asyncio.create_task(one(*r)) for r in requests]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))


@pytest.mark.usefixtures("_needs_postgres")
@pytest.mark.parametrize("handling", ["manual", "automatic"])
async def test_ten_concurrent_accepts_one_wins(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, handling: str
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    path = f"/v1/privacy-requests/{request['id']}/accept"
    codes = await _race(client, keys["operator"], [("POST", path, {"handling": handling})] * RACERS)
    assert sorted(codes) == [200] + [409] * (RACERS - 1)
    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "in_progress"
    assert [e["action"] for e in view["events"]].count("accepted") == 1
    assert app.state.engine.pool.checkedout() == 0, "no connection is left behind by the losers"


@pytest.mark.usefixtures("_needs_postgres")
async def test_accept_racing_dismiss_one_wins(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    accept: Call = ("POST", f"/v1/privacy-requests/{request['id']}/accept", {"handling": "automatic"})
    dismiss: Call = ("DELETE", f"/v1/privacy-requests/{request['id']}?reason=duplicate&notify=false", None)
    codes = await _race(client, keys["operator"], [accept, dismiss] * (RACERS // 2))
    assert codes.count(200) == 1
    view = await detail(client, keys["operator"], request["id"])
    actions = [e["action"] for e in view["events"]]
    assert actions.count("accepted") + actions.count("deleted") == 1
    assert view["status"] == ("in_progress" if "accepted" in actions else "deleted")
