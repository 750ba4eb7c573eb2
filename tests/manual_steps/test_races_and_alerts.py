"""Two parts of a request finishing at once complete it exactly once (the request's row lock, then the
conditional update); and the team's deadline alerts name the manual steps still open and their owners."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.wiring import SWEEP_STEPS
from app.worker.sweep import run_sweep

from ..conftest import TEAM, bearer
from ..helpers import accept, submit
from ..notifications.smtp_server import SmtpServer
from ..processing.world import status_of, work
from .conftest import ARCHIVE, OWNER
from .test_manual_steps import DELETION_DONE, confirm_deletion, done, plain, tasks, to

FAX_OWNER = "fax-desk@brand.test"
TWO_SOURCES = (
    ARCHIVE
    + """  - name: fax_desk
    type: manual
    owner_email: fax-desk@brand.test
    instructions: Remove the customer's number from the fax machine's address book.
"""
)


@pytest.fixture
def extra_sources() -> str:
    return TWO_SOURCES


@pytest.fixture
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "two writers racing need PostgreSQL's row locks and concurrency (SQLite runs one writer at a time, "
            "so the two never overlap and the race is not tested); set TEST_DATABASE_URL"
        )


async def test_each_owner_gets_their_task_in_their_language(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    [fax] = to(smtp_server, FAX_OWNER)
    assert str(fax["Subject"]) == f"Manual step in fax_desk for access request {request['id']}"
    text = plain(fax)
    assert (
        "What to do in fax_desk:\nRemove the customer's number from the fax machine's address book." in text
    )
    assert "Customer id: cus_2" in text
    assert "Email address on file: grace@example.com" in text
    assert len(to(smtp_server, OWNER)) == 1
    assert [t["source"] for t in await tasks(client, keys["operator"], request["id"])] == [
        "fax_desk",
        "paper_archive",
    ]


@pytest.mark.usefixtures("_needs_postgres")
async def test_the_last_two_tasks_done_at_once_complete_the_deletion_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    await work(app)  # the erasure has run; two tasks open
    assert await status_of(app, request_id) == "in_progress"
    first, second = await tasks(client, keys["operator"], request_id)
    answers = await asyncio.gather(
        done(client, keys["operator"], request_id, first["id"]),
        done(client, keys["operator"], request_id, second["id"]),
    )
    assert [a.status_code for a in answers] == [200, 200]
    await work(app)
    assert await status_of(app, request_id) == "processed"
    assert len(to(smtp_server, "ada@example.com", DELETION_DONE)) == 1


@pytest.mark.usefixtures("_needs_postgres")
async def test_the_erasure_and_the_last_task_finishing_at_once_complete_the_deletion_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    first, second = await tasks(client, keys["operator"], request_id)
    assert (await done(client, keys["operator"], request_id, first["id"])).status_code == 200
    answer, _ = await asyncio.gather(done(client, keys["operator"], request_id, second["id"]), work(app))
    assert answer.status_code == 200
    await work(app)
    assert await status_of(app, request_id) == "processed"
    assert len(to(smtp_server, "ada@example.com", DELETION_DONE)) == 1


@pytest.mark.usefixtures("_needs_postgres")
async def test_the_same_task_marked_done_twice_at_once_is_done_once(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    task = (await tasks(client, keys["operator"], request["id"]))[0]
    answers = await asyncio.gather(
        done(client, keys["operator"], request["id"], task["id"], note="first"),
        done(client, keys["admin"], request["id"], task["id"], note="second"),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    [won] = [a.json() for a in answers if a.status_code == 200]
    [lost] = [a.json() for a in answers if a.status_code == 409]
    # The one who lost reads who won; the task keeps the winner's name and note.
    assert lost["detail"] == f"This manual step was already marked done by {won['done_by']}."
    [kept] = [t for t in await tasks(client, keys["operator"], request["id"]) if t["id"] == task["id"]]
    assert (kept["status"], kept["done_by"], kept["note"]) == ("done", won["done_by"], won["note"])
    view = (
        await client.get(f"/v1/privacy-requests/{request['id']}", headers=bearer(keys["operator"]))
    ).json()
    assert len([e for e in view["events"] if e["action"] == "manual_step_done"]) == 1


async def test_deadline_alerts_say_which_manual_steps_are_open_and_who_owns_them(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    t0 = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)
    clock.freeze(t0)
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    [archive, _fax] = sorted(
        await tasks(client, keys["operator"], request["id"]), key=lambda t: t["source"] != "paper_archive"
    )
    assert (await done(client, keys["operator"], request["id"], archive["id"])).status_code == 200

    clock.freeze(t0 + timedelta(days=29))
    await run_sweep(app.state.sessionmaker, app.state.ctx, SWEEP_STEPS)
    await work(app)
    [soon] = to(smtp_server, TEAM)
    assert f"  1 manual step still open: fax_desk ({FAX_OWNER})" in plain(soon)

    clock.freeze(t0 + timedelta(days=31))
    await run_sweep(app.state.sessionmaker, app.state.ctx, SWEEP_STEPS)
    await work(app)
    [overdue] = [m for m in to(smtp_server, TEAM) if "overdue" in str(m["Subject"])]
    assert f"  1 manual step still open: fax_desk ({FAX_OWNER})" in plain(overdue)
    assert "paper_archive" not in plain(overdue)
