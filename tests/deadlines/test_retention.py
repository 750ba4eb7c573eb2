"""The service's own records (contract section 7), kept by the sweep: closed requests are redacted once
RECORDS_RETENTION has passed since they closed; finished jobs, sent emails and idempotency keys are deleted
after JOB_RETENTION; one failing sweep step does not hold back the others, and an expired package that cannot be
deleted is tried again at the next sweep."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.config import Settings
from app.core.context import ServiceContext
from app.downloads import sweep as downloads_sweep
from app.models import Download, PrivacyRequest, RequestEvent, RequestEventText
from app.wiring import HOUSEKEEPING_STEPS
from app.worker.sweep import run_sweep

from ..conftest import TEAM, bearer
from ..helpers import HASHED, detail, submit

T0 = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)
NOTE = "posted to 1 Analytical Way"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Open requests stay open however old they get: only operators move them here.
    return {"auto_handle_before_due": ""}


async def sweep(app: FastAPI) -> None:
    """What the worker does every poll: the sweep's steps, then the jobs they queued."""
    await app.state.worker.run_until_idle()


async def fulfilled_by_post(client: httpx.AsyncClient, keys: dict[str, str], email: str) -> str:
    request = await submit(client, keys["app"], type="access", email=email)
    operator = bearer(keys["operator"])
    for path, body in (
        (f"/v1/privacy-requests/{request['id']}/accept", {"handling": "manual"}),
        (f"/v1/privacy-requests/{request['id']}/fulfil", {"send_download_link": False, "note": NOTE}),
    ):
        response = await client.post(path, json=body, headers=operator)
        assert response.status_code == 200, response.text
    return str(request["id"])


async def dismissed(client: httpx.AsyncClient, keys: dict[str, str], email: str) -> str:
    request = await submit(client, keys["app"], type="access", email=email)
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": f"a duplicate of the letter from {email}", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200, response.text
    return str(request["id"])


async def rows(app: FastAPI, query: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        return [dict(row._mapping) for row in await session.execute(text(query))]


async def stored_request(app: FastAPI, request_id: str) -> str:
    """The request's row and its events as the database holds them, as one string."""
    request = select(*PrivacyRequest.__table__.c).where(PrivacyRequest.id == uuid.UUID(request_id))
    events = select(*RequestEvent.__table__.c).where(RequestEvent.request_id == uuid.UUID(request_id))
    texts = select(*RequestEventText.__table__.c).where(RequestEventText.request_id == uuid.UUID(request_id))
    async with app.state.sessionmaker() as session:
        found = [
            *(await session.execute(request)).all(),
            *(await session.execute(events)).all(),
            *(await session.execute(texts)).all(),
        ]
    assert found
    return str(found)


async def test_closed_requests_are_masked_once_records_retention_has_passed_since_they_closed(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    retention = settings.records_retention
    assert retention == timedelta(days=3 * 366)
    clock.freeze(T0)
    ada = await fulfilled_by_post(client, keys, "ada@example.com")  # a customer in the directory
    zoe = await dismissed(client, keys, "zoe@example.com")  # an address only
    alan = await submit(client, keys["app"], type="deletion", email="alan@example.com")  # expires in 7 days
    pat = await submit(client, keys["app"], type="access", email="pat@example.com")  # stays open
    clock.advance(timedelta(days=10))
    grace = await fulfilled_by_post(client, keys, "grace@example.com")
    await sweep(app)
    before = await detail(client, keys["operator"], ada)
    assert before["customer"] == {"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace"}

    clock.freeze(T0 + retention - timedelta(minutes=1))
    await sweep(app)
    unchanged = await detail(client, keys["operator"], ada)
    assert unchanged | {"days_left": None} == before | {"days_left": None}

    clock.advance(timedelta(minutes=2))  # ada and zoe closed RECORDS_RETENTION ago; the others later
    await sweep(app)
    await sweep(app)

    after = await detail(client, keys["operator"], ada)
    assert after["email"] == "a***@example.com"
    assert after["customer"] == {"id": "cus_1", "email": "a***@example.com", "name": "A*** L***"}
    assert after["status"] == "processed"
    assert after["processed_at"] == before["processed_at"]
    # The timeline keeps what happened, who did it and when, without the free text; redacted once.
    kept = [(e["action"], e["actor"], e["at"]) for e in before["events"]]
    assert [(e["action"], e["actor"], e["at"]) for e in after["events"]][: len(kept)] == kept
    assert [e["action"] for e in after["events"]][len(kept) :] == ["redacted"]
    assert [(e["action"], e["detail"]) for e in before["events"]] == [
        ("received", "access request"),
        ("accepted", "manual handling"),
        ("fulfilled", f"delivered by the operator: {NOTE}"),
    ]
    # The events themselves are unchanged (the database refuses that); only the operator's note is gone.
    assert [(e["action"], e["detail"]) for e in after["events"]] == [
        ("received", "access request"),
        ("accepted", "manual handling"),
        ("fulfilled", "delivered by the operator"),
        ("redacted", None),
    ]
    stored = await stored_request(app, ada)
    for clear in ("ada@example.com", "Ada", "Lovelace", NOTE):
        assert clear not in stored
    async with app.state.sessionmaker() as session:
        hashed = await session.scalar(
            select(PrivacyRequest.email_hash).where(PrivacyRequest.id == uuid.UUID(ada))
        )
    assert hashed == HASHED["ada@example.com"]
    # An operator still finds the masked request by the address a customer writes in with.
    found = await client.get(
        "/v1/privacy-requests",
        params={"email": "Ada@Example.com", "status": ["processed", "deleted"]},
        headers=bearer(keys["operator"]),
    )
    assert [item["id"] for item in found.json()["items"]] == [ada]

    zoe_after = await detail(client, keys["operator"], zoe)
    assert zoe_after["status"] == "deleted"
    assert zoe_after["email"] == "z***@example.com"
    assert "zoe@example.com" not in await stored_request(app, zoe)  # nor in the subject column

    # Closed less than RECORDS_RETENTION ago, or still open: untouched.
    assert (await detail(client, keys["operator"], grace))["email"] == "grace@example.com"
    assert (await detail(client, keys["operator"], alan["id"]))["email"] == "alan@example.com"
    assert (await detail(client, keys["operator"], pat["id"]))["email"] == "pat@example.com"

    clock.advance(timedelta(days=10))  # alan expired (7 days) and grace closed (10 days) that long ago now
    await sweep(app)
    for request_id, masked in ((alan["id"], "a***@example.com"), (grace, "g***@example.com")):
        assert (await detail(client, keys["operator"], request_id))["email"] == masked
    assert (await detail(client, keys["operator"], pat["id"]))["email"] == "pat@example.com"
    assert [e["action"] for e in (await detail(client, keys["operator"], ada))["events"]].count(
        "redacted"
    ) == 1


async def test_finished_jobs_sent_emails_and_idempotency_keys_go_after_job_retention(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    assert settings.job_retention == timedelta(days=30)
    clock.freeze(T0)
    old = await _submit_once(client, keys, "ada@example.com", key="old-key")
    await sweep(app)
    clock.advance(timedelta(days=20))
    recent = await _submit_once(client, keys, "grace@example.com", key="recent-key")
    await sweep(app)
    assert await _outbox(app) == {"ada@example.com": "sent", "grace@example.com": "sent"}

    clock.freeze(T0 + timedelta(days=30, minutes=1))
    await sweep(app)

    assert await _outbox(app) == {"grace@example.com": "sent"}
    jobs = await rows(app, "SELECT request_id, status FROM jobs WHERE request_id IS NOT NULL")
    assert {(str(uuid.UUID(str(job["request_id"]))), job["status"]) for job in jobs} == {(recent, "done")}
    keys_left = await rows(app, "SELECT key FROM idempotency_keys")
    assert [row["key"] for row in keys_left] == ["recent-key"]
    # The requests themselves are records, kept under RECORDS_RETENTION.
    assert (await detail(client, keys["operator"], old))["email"] == "ada@example.com"


async def test_a_failing_sweep_step_does_not_hold_back_the_others(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    clock.freeze(T0)
    await _automatic_access(client, keys, "ada@example.com")
    await sweep(app)  # the package built, its email sent
    [download] = await rows(app, "SELECT path FROM downloads")
    assert await asyncio.to_thread(Path(download["path"]).exists)

    async def broken_step(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
        raise RuntimeError("a bad row")

    clock.advance(timedelta(days=31))  # the link expired, the job and the email are past JOB_RETENTION
    with caplog.at_level(logging.ERROR, logger="app.worker.sweep"):
        await run_sweep(app.state.sessionmaker, app.state.ctx, (broken_step, *HOUSEKEEPING_STEPS))

    [failure] = [r for r in caplog.records if r.name == "app.worker.sweep"]
    assert failure.getMessage() == "sweep step broken_step failed; the other steps still run"
    assert failure.exc_info is not None
    assert str(failure.exc_info[1]) == "a bad row"
    # Every step after it did its work: the package purged, the finished job and the sent email deleted.
    [purged] = await rows(app, "SELECT purged_at FROM downloads")
    assert purged["purged_at"] is not None
    assert not await asyncio.to_thread(Path(download["path"]).exists)
    assert await _outbox(app) == {}
    assert await rows(app, "SELECT id FROM jobs") == []


async def test_an_expired_package_that_cannot_be_deleted_is_tried_again_at_the_next_sweep(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock.freeze(T0)
    await _automatic_access(client, keys, "ada@example.com")
    await sweep(app)
    # The package directory is damaged: the expired package's path is now a directory, which no unlink removes.
    damaged = tmp_path / "damaged"
    await asyncio.to_thread(damaged.mkdir)
    async with app.state.sessionmaker() as session:
        await session.execute(update(Download).values(path=str(damaged)))
        await session.commit()

    clock.advance(timedelta(days=31))
    with caplog.at_level(logging.WARNING, logger="app.downloads"):
        await sweep(app)

    assert any(
        "could not be deleted; tried again at the next sweep" in r.getMessage() for r in caplog.records
    )
    [download] = await rows(app, "SELECT purged_at FROM downloads")
    assert download["purged_at"] is None  # the undeletable package stays unpurged, to be tried again

    await asyncio.to_thread(damaged.rmdir)
    await asyncio.to_thread(damaged.write_bytes, b"the package, deletable again")
    clock.advance(timedelta(minutes=1))
    await sweep(app)

    [download] = await rows(app, "SELECT purged_at FROM downloads")
    assert download["purged_at"] is not None
    assert not await asyncio.to_thread(damaged.exists)


async def test_packages_that_keep_failing_do_not_hold_back_those_behind_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches of two (instead of 200), so that two undeletable packages fill a whole batch.
    monkeypatch.setattr(downloads_sweep, "BATCH", 2)
    clock.freeze(T0)
    for n, email in enumerate(("ada@example.com", "grace@example.com", "alan@example.com")):
        await _automatic_access(client, keys, email)
        await sweep(app)
        clock.advance(timedelta(minutes=n + 1))  # each expires after the one before
    packages = await rows(app, "SELECT path FROM downloads ORDER BY expires_at")
    assert len(packages) == 3
    # The two that expire first cannot be deleted: their paths are now directories, which no unlink removes.
    async with app.state.sessionmaker() as session:
        for n, package in enumerate(packages[:2]):
            damaged = tmp_path / f"damaged-{n}"
            await asyncio.to_thread(damaged.mkdir)
            await session.execute(
                update(Download).where(Download.path == package["path"]).values(path=str(damaged))
            )
        await session.commit()

    clock.advance(timedelta(days=31))
    await sweep(app)

    purged = await rows(app, "SELECT purged_at FROM downloads ORDER BY expires_at")
    assert [row["purged_at"] is not None for row in purged] == [False, False, True]
    assert not await asyncio.to_thread(Path(packages[2]["path"]).exists)


async def _automatic_access(client: httpx.AsyncClient, keys: dict[str, str], email: str) -> None:
    """An access request the worker builds a package for."""
    request = await submit(client, keys["app"], type="access", email=email)
    accepted = await client.post(
        f"/v1/privacy-requests/{request['id']}/accept",
        json={"handling": "automatic"},
        headers=bearer(keys["operator"]),
    )
    assert accepted.status_code == 200


async def _submit_once(client: httpx.AsyncClient, keys: dict[str, str], email: str, *, key: str) -> str:
    response = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": email},
        headers={**bearer(keys["app"]), "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _outbox(app: FastAPI) -> dict[str, str]:
    """The customers' emails still stored, by recipient (the team's deadline alerts left aside)."""
    return {
        row["to_address"]: row["status"]
        for row in await rows(app, "SELECT * FROM emails")
        if row["to_address"] != TEAM
    }
