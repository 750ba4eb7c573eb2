"""On PostgreSQL a submit writes its request with everything the request brings (its timeline, its email, its
jobs) in one statement, which writes nothing at all when an open request of the same person and type exists.
The outcomes are the same on SQLite, where the unit of work writes the rows after the request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.db import read_only
from app.models import Email, Job, RequestEvent

from ..conftest import bearer
from ..helpers import detail, mailbox, submit, text_of
from ..jobs.support import statements_sent
from ..processing.world import confirmed_deletion


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"auto_accept_access": True}


async def _counts(app: FastAPI) -> tuple[int, int, int]:
    """(emails, jobs, timeline events) in the database."""
    async with read_only(app.state.sessionmaker) as session:
        counted = [
            await session.scalar(select(func.count()).select_from(m)) for m in (Email, Job, RequestEvent)
        ]
    emails, jobs, events = (int(n or 0) for n in counted)
    return emails, jobs, events


async def test_a_submit_accepted_at_once_is_one_statement_and_does_all_it_did(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    with statements_sent(app.state.engine) as sent:
        response = await client.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": "ada@example.com", "channel": "ios"},
            headers=bearer(keys["app"]),
        )
    assert response.status_code == 201, response.text
    writes = [s.sql for s in sent if "INSERT" in s.sql]
    if app.state.engine.dialect.name == "postgresql":
        assert len(writes) == 1, writes  # the request, its two events, its email, its two jobs
        assert len(sent) == 2, [s.sql[:80] for s in sent]  # and the API key's look-up
    request_id = response.json()["id"]

    view = await detail(client, keys["operator"], request_id)
    assert [(e["action"], e["actor"]) for e in view["events"]] == [
        ("received", "app-key"),
        ("accepted", "system"),
    ]
    await app.state.worker.run_until_idle()
    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    # The customer found by the address gets the acknowledgement, then the link (the jobs were written).
    messages = mailbox(app.state.ctx.settings.mail_dir)
    assert [str(m["To"]) for m in messages] == ["ada@example.com", "ada@example.com"]
    assert "/v1/downloads/" not in text_of(messages[0])
    assert "/v1/downloads/" in text_of(messages[1])


async def test_a_deletion_submit_writes_its_confirmation_link_that_works(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    # The link's token is stored (hashed) by the submit's statement: the emailed link confirms the request.
    request_id = await confirmed_deletion(
        client, keys, app.state.ctx.settings.mail_dir, app, email="grace@example.com"
    )
    view = await detail(client, keys["operator"], request_id)
    assert [e["action"] for e in view["events"]][:2] == ["received", "confirmed"]


async def test_a_repeat_while_open_writes_nothing_of_its_own_but_the_note_on_the_open_request(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    first = await submit(client, keys["app"], type="access", email="alan@example.com")
    before = await _counts(app)

    again = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "alan@example.com"},
        headers=bearer(keys["app"]),
    )

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    emails, jobs, events = await _counts(app)
    assert (emails, jobs) == before[:2], "no email and no job for the repeat"
    assert events == before[2] + 1, "only the repeat on the open request's timeline"
    view = await detail(client, keys["operator"], first["id"])
    assert [e["action"] for e in view["events"]] == ["received", "accepted", "resubmitted"]


async def test_many_at_once_for_one_person_make_one_request_one_email(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/privacy-requests",
                json={"type": "access", "email": "ada@example.com"},
                headers=bearer(keys["app"]),
            )
            for _ in range(6)
        )
    )

    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    emails, jobs, _events = await _counts(app)
    assert (emails, jobs) == (1, 2)  # one acknowledgement and its job, one package job
    view = await detail(client, keys["operator"], responses[0].json()["id"])
    assert [e["action"] for e in view["events"]] == ["received", "accepted"] + ["resubmitted"] * 5
