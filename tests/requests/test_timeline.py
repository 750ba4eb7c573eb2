"""The timeline (contract section 3) is append-only, and in the database itself: an event can be neither
changed nor deleted; the one change allowed is clearing the free text beside an event (RECORDS_RETENTION).
An extension records the old and the new due date, a repeat submission is recorded, a dismissal records
whether and why the customer was (not) told."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.audit import repository as timeline
from app.core import clock
from app.core.db import create_engine as create_async_engine
from app.core.db import create_sessionmaker
from app.core.migrations import downgrade, upgrade

from ..conftest import bearer, sync_pg_url
from ..helpers import detail, submit
from .outbox import sent

OPERATOR_NOTE = "ID card checked at the desk"


async def _refused(app: FastAPI, statement: str) -> str:
    """Run ``statement`` in its own transaction; the database's error message (the test fails if it runs)."""
    async with app.state.sessionmaker() as session:
        with pytest.raises(DBAPIError) as refused:
            await session.execute(text(statement))
        await session.rollback()
    return str(refused.value)


async def _dismissed_with_a_note(client: httpx.AsyncClient, keys: dict[str, str]) -> str:
    entered = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "customer_id": "cus_1", "channel": "phone", "note": OPERATOR_NOTE},
        headers=bearer(keys["operator"]),
    )
    assert entered.status_code == 201, entered.text
    request_id = str(entered.json()["id"])
    dismissed = await client.delete(
        f"/v1/privacy-requests/{request_id}",
        params={"reason": "Duplicate of the letter of 2 May", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200, dismissed.text
    return request_id


async def test_the_database_refuses_to_change_or_delete_an_event(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request_id = await _dismissed_with_a_note(client, keys)
    before = await detail(client, keys["operator"], request_id)
    assert [(e["action"], e["detail"]) for e in before["events"]] == [
        ("received", "access request via phone"),
        ("note", OPERATOR_NOTE),
        ("deleted", "the customer is not told: Duplicate of the letter of 2 May"),
    ]

    for statement in (
        "UPDATE request_events SET detail = 'nothing happened'",
        "UPDATE request_events SET actor = 'someone else' WHERE action = 'deleted'",
        "UPDATE request_events SET at = at",  # not even a change that changes nothing
        "DELETE FROM request_events WHERE action = 'deleted'",
        "DELETE FROM request_events",
        # The free text beside an event can be cleared, never rewritten or removed.
        f"UPDATE request_event_texts SET text = 'a different reason' WHERE text = '{OPERATOR_NOTE}'",
        "DELETE FROM request_event_texts",
    ):
        message = await _refused(app, statement)
        assert "append-only" in message or "can only be cleared" in message, (statement, message)

    after = await detail(client, keys["operator"], request_id)
    assert after["events"] == before["events"]
    # Inserting is what a timeline is for.
    views = await client.get(f"/v1/privacy-requests/{request_id}/data", headers=bearer(keys["operator"]))
    assert views.status_code == 200
    assert [e["action"] for e in (await detail(client, keys["operator"], request_id))["events"]][-1] == (
        "data_exported"
    )


async def test_clearing_a_text_keeps_the_event(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    """What RECORDS_RETENTION does (tests/deadlines/test_retention.py runs it through the sweep)."""
    request_id = await _dismissed_with_a_note(client, keys)
    async with app.state.sessionmaker() as session:
        await timeline.clear_texts(session, uuid.UUID(request_id))
        await session.commit()
    view = await detail(client, keys["operator"], request_id)
    assert [(e["action"], e["actor"], e["detail"]) for e in view["events"]] == [
        ("received", "operator-key", "access request via phone"),
        ("note", "operator-key", None),
        ("deleted", "operator-key", "the customer is not told"),
    ]


async def test_an_extension_records_the_old_and_the_new_due_date(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    clock.freeze(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    extended = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "Data in archived systems"},
        headers=bearer(keys["operator"]),
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["due_at"] == "2026-04-28T12:00:00Z"
    view = await detail(client, keys["operator"], request["id"])
    assert view["events"][-1] == {
        "at": "2026-01-31T12:00:00Z",
        "action": "extended",
        "actor": "operator-key",
        "detail": "due date 2026-02-28T12:00:00Z -> 2026-04-28T12:00:00Z: Data in archived systems",
    }
    await app.state.worker.run_until_idle()
    [told] = await sent(app, kind="deadline_extended")
    assert told.to == "ada@example.com"
    assert "Data in archived systems" in told.text


async def test_a_repeat_submission_is_recorded_on_the_open_request(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    first = await client.post(
        "/v1/privacy-requests",
        json={"type": "deletion", "email": "ada@example.com", "channel": "ios"},
        headers=bearer(keys["app"]),
    )
    again = await client.post(
        "/v1/privacy-requests",
        json={"type": "deletion", "email": "Ada@Example.com", "channel": "web"},
        headers=bearer(keys["app"]),
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    view = await detail(client, keys["operator"], first.json()["id"])
    assert [(e["action"], e["actor"], e["detail"]) for e in view["events"]] == [
        ("received", "app-key", "deletion request via ios"),
        (
            "resubmitted",
            "app-key",
            "the same deletion request again via web; answered with this open request",
        ),
    ]
    await app.state.worker.run_until_idle()
    assert [email.kind for email in await sent(app, to="ada@example.com")] == ["deletion_confirmation"]


@pytest.mark.parametrize("notify", ["yes", "1", "True", "", "maybe"])
async def test_dismiss_requires_notify_true_or_false(
    client: httpx.AsyncClient, keys: dict[str, str], notify: str
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "Duplicate", "notify": notify},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert [f["field"] for f in response.json()["fields"]] == ["notify"]
    missing = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "Duplicate"},
        headers=bearer(keys["operator"]),
    )
    assert missing.status_code == 422
    assert [f["field"] for f in missing.json()["fields"]] == ["notify"]
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "pending"


async def test_dismiss_with_notify_tells_the_customer_the_reason(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "We could not verify that the address is yours", "notify": "true"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200, response.text
    view = await detail(client, keys["operator"], request["id"])
    assert (
        view["events"][-1]["detail"] == "the customer is told: We could not verify that the address is yours"
    )
    await app.state.worker.run_until_idle()
    [declined] = await sent(app, kind="request_declined")
    assert declined.to == "ada@example.com"
    assert "We could not verify that the address is yours" in declined.text


async def test_dismiss_without_notify_sends_nothing_and_records_why(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="deletion", email="ada@example.com")
    await app.state.worker.run_until_idle()
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "Duplicate of the request by letter", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200, response.text
    await app.state.worker.run_until_idle()
    assert [email.kind for email in await sent(app, to="ada@example.com")] == ["deletion_confirmation"]
    view = await detail(client, keys["operator"], request["id"])
    assert (view["events"][-1]["action"], view["events"][-1]["detail"]) == (
        "deleted",
        "the customer is not told: Duplicate of the request by letter",
    )


def _sync_url(database_url: str) -> str:
    if database_url.startswith("postgresql"):
        return sync_pg_url(database_url).replace("postgresql://", "postgresql+psycopg://", 1)
    return database_url.replace("sqlite+aiosqlite://", "sqlite://", 1)


async def test_migration_0003_down_and_up_keeps_every_event_and_text(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], database_url: str
) -> None:
    """Downgrading puts the texts back into the events' details and lifts the refusal; upgrading moves them
    out again and refuses again. The timeline reads the same throughout. (Leaves the database at head.)"""
    request_id = await _dismissed_with_a_note(client, keys)
    before = (await detail(client, keys["operator"], request_id))["events"]
    await app.state.engine.dispose()  # no pooled connection keeps statements prepared for the old tables
    engine = create_engine(_sync_url(database_url))
    try:
        await asyncio.to_thread(downgrade, database_url, "0002")
        with engine.begin() as connection:
            assert "request_event_texts" not in inspect(connection).get_table_names()
            details = connection.execute(text("SELECT action, detail FROM request_events ORDER BY id")).all()
            assert [tuple(row) for row in details] == [
                ("received", "access request via phone"),
                ("note", OPERATOR_NOTE),
                ("deleted", "the customer is not told: Duplicate of the letter of 2 May"),
            ]
            connection.execute(text("UPDATE request_events SET actor = actor"))  # 0002 refused nothing

        await asyncio.to_thread(upgrade, database_url)
        with engine.begin() as connection:
            moved = connection.execute(text("SELECT action, detail FROM request_events ORDER BY id")).all()
            assert [tuple(row) for row in moved] == [
                ("received", "access request via phone"),
                ("note", None),
                ("deleted", None),
            ]
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM request_events"))
    finally:
        engine.dispose()

    fresh = create_async_engine(database_url)
    try:
        async with create_sessionmaker(fresh)() as session:
            entries = await timeline.events_of(session, uuid.UUID(request_id))
    finally:
        await fresh.dispose()
    assert [(e.action, e.actor, e.detail) for e in entries] == [
        (e["action"], e["actor"], e["detail"]) for e in before
    ]


def test_sqlite_migrations_from_scratch_refuse_event_changes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        with engine.connect() as connection:
            triggers = {
                row[0]
                for row in connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            }
        assert triggers == {
            "request_events_no_update",
            "request_events_no_delete",
            "request_event_texts_clear_only",
            "request_event_texts_no_delete",
        }
        downgrade(url, "0002")
        with engine.connect() as connection:
            left = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert left == []
    finally:
        engine.dispose()
