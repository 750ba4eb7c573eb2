"""The deadline sweep with a controllable clock: alerts to the privacy team once per threshold, automatic
handling, expiry of unconfirmed deletions; and the due dates per regulation, read from the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings
from app.wiring import SWEEP_STEPS
from app.worker.sweep import run_sweep

from ..conftest import TEAM, bearer
from ..helpers import accept, detail, mailbox, submit, text_of

T0 = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)  # GDPR due date: T0 + 30 days (April has 30 days)


async def _sweep(app: FastAPI) -> None:
    """One sweep (every step), then deliver what it queued."""
    await run_sweep(app.state.sessionmaker, app.state.ctx, SWEEP_STEPS)
    await app.state.worker.run_until_idle()


def _team(settings: Settings) -> list[EmailMessage]:
    return [m for m in mailbox(settings.mail_dir) if m["To"] == TEAM]


def _to(settings: Settings, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox(settings.mail_dir) if m["To"] == address]


async def _open_access(client: httpx.AsyncClient, keys: dict[str, str], email: str) -> dict[str, Any]:
    """An access request an operator handles by hand: open, and never handled automatically."""
    request = await submit(client, keys["app"], type="access", email=email)
    await accept(client, keys["operator"], request["id"], "manual")
    return request


async def test_each_threshold_alerts_once_then_overdue_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(T0)
    first = await _open_access(client, keys, "ada@example.com")
    second = await _open_access(client, keys, "grace@example.com")
    closed = await submit(client, keys["app"], type="access", email="alan@example.com")
    assert (
        await client.post(
            f"/v1/privacy-requests/{closed['id']}/accept",
            json={"handling": "manual"},
            headers=bearer(keys["operator"]),
        )
    ).status_code == 200
    assert (
        await client.post(
            f"/v1/privacy-requests/{closed['id']}/fulfil",
            json={"send_download_link": False},
            headers=bearer(keys["operator"]),
        )
    ).status_code == 200
    await _sweep(app)
    assert _team(settings) == []

    clock.advance(timedelta(days=23, hours=1))  # due in 6 days 23 hours
    await _sweep(app)
    await _sweep(app)
    [week] = _team(settings)
    assert week["Subject"] == "2 privacy requests due within 7 days"
    body = text_of(week)
    for request in (first, second):
        assert request["id"] in body
        assert f"http://privacy.brand.test/v1/privacy-requests/{request['id']}" in body
    assert closed["id"] not in body  # processed: nothing to alert about

    clock.advance(timedelta(days=6))  # due in 23 hours
    await _sweep(app)
    await _sweep(app)
    week_again, day = _team(settings)
    assert week_again["Message-ID"] == week["Message-ID"]
    assert day["Subject"] == "2 privacy requests due within 1 day"
    assert first["id"] in text_of(day)
    assert second["id"] in text_of(day)

    clock.advance(timedelta(hours=23, seconds=1))  # one second overdue
    await _sweep(app)
    await _sweep(app)
    *_, overdue = _team(settings)
    assert len(_team(settings)) == 3
    assert overdue["Subject"] == "2 privacy requests overdue"
    assert first["id"] in text_of(overdue)
    assert second["id"] in text_of(overdue)

    clock.advance(timedelta(days=3))
    await _sweep(app)
    assert len(_team(settings)) == 3

    timeline = await detail(client, keys["operator"], first["id"])
    alerts = [(e["action"], e["actor"], e["detail"]) for e in timeline["events"] if "alert" in e["action"]]
    assert alerts == [
        ("due_soon_alert", "system", "due within P7D"),
        ("due_soon_alert", "system", "due within P1D"),
        ("overdue_alert", "system", None),
    ]
    assert timeline["overdue"] is True


async def test_a_request_first_seen_inside_the_tighter_threshold_is_listed_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(T0)
    late = await _open_access(client, keys, "ada@example.com")
    clock.advance(timedelta(days=23, hours=1))
    fresh = await _open_access(client, keys, "grace@example.com")  # due in 30 days: in no threshold

    clock.advance(timedelta(days=6))  # the sweep did not run meanwhile; `late` is due in 23 hours
    await _sweep(app)
    [day] = _team(settings)
    assert day["Subject"] == "1 privacy request due within 1 day"
    assert late["id"] in text_of(day)
    assert fresh["id"] not in text_of(day)

    # Later sweeps do not list it under the wider threshold it skipped.
    clock.advance(timedelta(hours=1))
    await _sweep(app)
    assert len(_team(settings)) == 1


async def test_extended_request_is_alerted_again_for_its_new_due_date(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(T0)
    request = await _open_access(client, keys, "ada@example.com")
    clock.advance(timedelta(days=23, hours=1))
    await _sweep(app)
    assert len(_team(settings)) == 1

    extended = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "Many systems to search"},
        headers=bearer(keys["operator"]),
    )
    assert extended.status_code == 200, extended.text
    new_due = datetime.fromisoformat(extended.json()["due_at"])
    assert new_due == datetime(2030, 7, 1, 9, 0, tzinfo=UTC)  # 1 May + 2 calendar months
    await _sweep(app)
    assert len(_team(settings)) == 1

    clock.freeze(new_due - timedelta(days=6))
    await _sweep(app)
    await _sweep(app)
    assert len(_team(settings)) == 2
    assert _team(settings)[-1]["Subject"] == "1 privacy request due within 7 days"
    assert request["id"] in text_of(_team(settings)[-1])
    clock.freeze(new_due + timedelta(minutes=1))
    await _sweep(app)
    assert _team(settings)[-1]["Subject"] == "1 privacy request overdue"


async def test_pending_access_request_is_handled_automatically_before_it_is_due(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(T0)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    due = datetime.fromisoformat(request["due_at"])

    clock.freeze(due - settings.auto_handle_before_due - timedelta(minutes=1))  # type: ignore[operator]
    await _sweep(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "pending"

    clock.advance(timedelta(minutes=2))
    await _sweep(app)
    handled = await detail(client, keys["operator"], request["id"])
    assert handled["status"] == "processed"
    assert handled["handling"] == "automatic"
    accepted = next(e for e in handled["events"] if e["action"] == "accepted")
    assert accepted["actor"] == "system"
    assert accepted["detail"] == "automatic handling"
    assert _to(settings, "ada@example.com").count("Your data is ready to download") == 1


@pytest.mark.parametrize("settings_overrides", [{"auto_handle_before_due": ""}])
async def test_empty_auto_handle_setting_leaves_requests_to_the_operators(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    assert settings.auto_handle_before_due is None
    clock.freeze(T0)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    clock.advance(timedelta(days=29, hours=23))
    await _sweep(app)
    still = await detail(client, keys["operator"], request["id"])
    assert still["status"] == "pending"
    assert [e["action"] for e in still["events"]] == ["received", "due_soon_alert"]


async def test_unconfirmed_deletion_expires_and_the_customer_is_told(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    clock.freeze(T0)
    request = await submit(client, keys["app"], type="deletion", email="ada@example.com", locale="de")

    clock.advance(settings.verification_ttl - timedelta(seconds=1))
    await _sweep(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "unverified"

    clock.advance(timedelta(seconds=2))
    await _sweep(app)
    await _sweep(app)
    expired = await detail(client, keys["operator"], request["id"])
    assert expired["status"] == "expired"
    assert expired["overdue"] is False
    assert expired["events"][-1]["action"] == "expired"
    assert expired["events"][-1]["actor"] == "system"
    assert _to(settings, "ada@example.com") == [
        "Bitte bestätigen Sie die Löschung Ihrer Daten",
        "Ihr Löschantrag ist abgelaufen",
    ]

    # The customer may ask again: a new request, not the expired one.
    again = await submit(client, keys["app"], type="deletion", email="ada@example.com")
    assert again["id"] != request["id"]
    assert again["status"] == "unverified"


@pytest.mark.parametrize(
    ("regulation", "received", "due"),
    [
        ("gdpr", datetime(2030, 1, 31, 10, 0, tzinfo=UTC), datetime(2030, 2, 28, 10, 0, tzinfo=UTC)),
        ("gdpr", datetime(2028, 1, 31, 10, 0, tzinfo=UTC), datetime(2028, 2, 29, 10, 0, tzinfo=UTC)),
        ("gdpr", datetime(2030, 1, 15, 10, 0, tzinfo=UTC), datetime(2030, 2, 14, 10, 0, tzinfo=UTC)),
        ("gdpr", datetime(2030, 2, 10, 10, 0, tzinfo=UTC), datetime(2030, 3, 10, 10, 0, tzinfo=UTC)),
        ("ccpa", datetime(2030, 1, 31, 10, 0, tzinfo=UTC), datetime(2030, 3, 17, 10, 0, tzinfo=UTC)),
        ("lgpd", datetime(2030, 1, 31, 10, 0, tzinfo=UTC), datetime(2030, 2, 15, 10, 0, tzinfo=UTC)),
    ],
)
async def test_due_dates_per_regulation(
    client: httpx.AsyncClient, keys: dict[str, str], regulation: str, received: datetime, due: datetime
) -> None:
    clock.freeze(received)
    created = await submit(client, keys["app"], type="access", email="ada@example.com", regulation=regulation)
    assert datetime.fromisoformat(created["received_at"]) == received
    assert datetime.fromisoformat(created["due_at"]) == due
    assert created["days_left"] == (due - received).days
    assert created["overdue"] is False
    clock.freeze(due + timedelta(seconds=1))
    later = await detail(client, keys["operator"], created["id"])
    assert later["due_at"] == created["due_at"]
    assert later["days_left"] == -1
    assert later["overdue"] is True
