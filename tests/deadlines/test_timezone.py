"""With TIMEZONE=Europe/Berlin, due dates are counted on Berlin's calendar (contract sections 4 and 8), through
the API: received on 31 January at 00:30 in Berlin (30 January in UTC), a GDPR request is due on 28 February
at 00:30 in Berlin, not at the end of 28 February in UTC (past Berlin's deadline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..helpers import detail, submit
from ..requests.outbox import sent


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"timezone": "Europe/Berlin"}


async def _extend(client: httpx.AsyncClient, keys: dict[str, str], request_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/privacy-requests/{request_id}/extend",
        json={"reason": "Many systems to search"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_received_just_after_midnight_in_berlin(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    clock.freeze(datetime(2026, 1, 30, 23, 30, tzinfo=UTC))  # 31 January 00:30 in Berlin
    gdpr = await submit(client, keys["app"], type="access", email="ada@example.com")
    assert gdpr["received_at"] == "2026-01-30T23:30:00Z"
    assert gdpr["due_at"] == "2026-02-27T23:30:00Z"  # 28 February 00:30 in Berlin
    ccpa = await submit(client, keys["app"], type="access", email="grace@example.com", regulation="ccpa")
    assert ccpa["due_at"] == "2026-03-16T23:30:00Z"  # 45 days: 17 March 00:30 in Berlin
    lgpd = await submit(client, keys["app"], type="access", email="alan@example.com", regulation="lgpd")
    assert lgpd["due_at"] == "2026-02-14T23:30:00Z"  # 15 days: 15 February 00:30 in Berlin

    # Two calendar months on Berlin's calendar, into summer time: 28 April 00:30 in Berlin.
    extended = await _extend(client, keys, gdpr["id"])
    assert extended["due_at"] == "2026-04-27T22:30:00Z"
    view = await detail(client, keys["operator"], gdpr["id"])
    assert view["events"][-1]["detail"] == (
        "due date 2026-02-27T23:30:00Z -> 2026-04-27T22:30:00Z: Many systems to search"
    )
    # 45 more days from 17 March 00:30 (winter time): 1 May 00:30 (summer time).
    assert (await _extend(client, keys, ccpa["id"]))["due_at"] == "2026-04-30T22:30:00Z"

    # Ada reads Berlin's dates: 28 February, never the 27th of UTC.
    await app.state.worker.run_until_idle()
    [acknowledged] = await sent(app, kind="access_acknowledged", to="ada@example.com")
    [extended_email] = await sent(app, kind="deadline_extended", to="ada@example.com")
    for email in (acknowledged, extended_email):
        assert "28 February 2026" in email.text, email.text
        assert "27 February" not in email.text
    assert "28 April 2026" in extended_email.text
    assert "27 April" not in extended_email.text


async def test_across_the_change_to_summer_time_the_hour_on_the_clock_stays(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    clock.freeze(datetime(2026, 3, 10, 11, 0, tzinfo=UTC))  # 10 March 12:00 in Berlin (winter time)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    assert request["due_at"] == "2026-04-09T10:00:00Z"  # 9 April 12:00 in Berlin (summer time)
