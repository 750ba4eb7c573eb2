"""Bulk accept and bulk dismiss over a filtered selection: every page of it, the stale-screen guard, the
requests skipped (and why), the timeline naming who acted, and the customers' emails."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.requests import actions, bulk, repository

from ..conftest import bearer
from ..helpers import detail, submit
from .outbox import sent

ACCEPT = "/v1/privacy-requests/bulk/accept"
DISMISS = "/v1/privacy-requests/bulk/dismiss"


async def _list_all(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/privacy-requests", params=query, headers=bearer(key))
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def _post(client: httpx.AsyncClient, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers=bearer(key))


async def test_bulk_accept_acts_on_every_page_and_reports_the_skipped(
    client: httpx.AsyncClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 50)  # 120 requests: three transactions
    access = [
        (await submit(client, keys["app"], type="access", email=f"reader{i}@example.org"))["id"]
        for i in range(120)
    ]
    deletions = [
        (await submit(client, keys["app"], type="deletion", email=f"eraser{i}@example.org"))["id"]
        for i in range(3)
    ]
    selection = {"status": ["pending", "unverified"]}

    counted = await _post(
        client, keys["operator"], ACCEPT, {"filter": selection, "handling": "manual", "dry_run": True}
    )
    assert counted.status_code == 200, counted.text
    assert re.fullmatch(r"[0-9a-f]{64}", counted.json()["selection_digest"])
    assert counted.json() == {
        "matched": 123,
        "selection_digest": counted.json()["selection_digest"],
        "changed": 0,
        "skipped_count": 0,
        "skipped": [],
        "dry_run": True,
    }
    assert len(await _list_all(client, keys["operator"], status="pending")) == 120  # nothing changed

    response = await _post(
        client, keys["operator"], ACCEPT, {"filter": selection, "handling": "manual", "expected_count": 123}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["matched"], result["changed"], result["skipped_count"]) == (123, 120, 3)
    assert {s["id"] for s in result["skipped"]} == set(deletions)
    for skipped in result["skipped"]:
        assert skipped["status"] == "unverified"
        assert skipped["reason"] == "A deletion request in status 'unverified' cannot be accepted."

    in_progress = await _list_all(client, keys["operator"], status="in_progress")
    assert sorted(r["id"] for r in in_progress) == sorted(access)
    assert {r["handling"] for r in in_progress} == {"manual"}
    for request_id in (access[0], access[-1]):
        events = (await detail(client, keys["operator"], request_id))["events"]
        assert events[-1]["action"] == "accepted"
        assert events[-1]["actor"] == "operator-key"
        assert events[-1]["detail"] == "manual handling"
    assert (await detail(client, keys["operator"], deletions[0]))["status"] == "unverified"


async def test_automatic_bulk_accept_queues_the_same_work_as_one_accept(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    ids = [
        (await submit(client, keys["app"], type="access", email=f"auto{i}@example.org"))["id"]
        for i in range(3)
    ]
    response = await _post(
        client,
        keys["operator"],
        ACCEPT,
        {"filter": {"q": "auto"}, "handling": "automatic", "expected_count": 3},
    )
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 3
    await app.state.worker.run_until_idle()
    for request_id in ids:
        assert (await detail(client, keys["operator"], request_id))["status"] == "processed"
    # Not in the directory: the customer is told no data was found, as after one automatic accept.
    assert len(await sent(app, kind="access_no_data")) == 3


async def test_a_stale_selection_changes_nothing(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    for i in range(3):
        await submit(client, keys["app"], type="access", email=f"seen{i}@example.org")
    body: dict[str, Any] = {"filter": {"status": ["pending"]}, "handling": "manual", "dry_run": True}
    assert (await _post(client, keys["operator"], ACCEPT, body)).json()["matched"] == 3
    await submit(client, keys["app"], type="access", email="arrived-meanwhile@example.org")

    stale = {"filter": {"status": ["pending"]}, "handling": "manual", "expected_count": 3}
    response = await _post(client, keys["operator"], ACCEPT, stale)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "now holds 4 requests, not the 3 expected" in response.json()["detail"]
    assert len(await _list_all(client, keys["operator"], status="pending")) == 4

    # A repeat of a call that acted is refused the same way: nothing is accepted twice.
    done = {**stale, "expected_count": 4}
    assert (await _post(client, keys["operator"], ACCEPT, done)).json()["changed"] == 4
    again = await _post(client, keys["operator"], ACCEPT, done)
    assert again.status_code == 409
    assert "now holds 0 requests" in again.json()["detail"]


async def test_the_same_number_of_other_requests_changes_nothing(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    kept = await submit(client, keys["app"], type="access", email="digest-a@example.org")
    leaving = await submit(client, keys["app"], type="access", email="digest-b@example.org")
    count: dict[str, Any] = {"filter": {"q": "digest-"}, "handling": "manual", "dry_run": True}
    counted = (await _post(client, keys["operator"], ACCEPT, count)).json()
    assert counted["matched"] == 2
    # One request leaves the selection and another arrives: the number is the same, the requests are not.
    dismissed = await client.delete(
        f"/v1/privacy-requests/{leaving['id']}",
        params={"reason": "duplicate", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200
    arrived = await submit(client, keys["app"], type="access", email="digest-c@example.org")

    stale = {
        "filter": {"q": "digest-"},
        "handling": "manual",
        "expected_count": 2,
        "selection_digest": counted["selection_digest"],
    }
    response = await _post(client, keys["operator"], ACCEPT, stale)
    assert response.status_code == 409, response.text
    assert response.json() == {
        "error": "conflict",
        "detail": "The selection still holds 2 requests, but not the ones counted (one left it and another "
        "arrived); nothing changed. Look at it again (a dry run gives the new selection_digest).",
    }
    for request in (kept, arrived):
        assert (await detail(client, keys["operator"], request["id"]))["status"] == "pending"

    # Counted again: the digest is the SHA-256 of the sorted ids, and with it the call acts.
    recounted = (await _post(client, keys["operator"], ACCEPT, count)).json()
    ids = "\n".join(sorted([kept["id"], arrived["id"]]))
    assert recounted["selection_digest"] == hashlib.sha256(ids.encode()).hexdigest()
    fresh = {**stale, "selection_digest": recounted["selection_digest"]}
    done = await _post(client, keys["operator"], ACCEPT, fresh)
    assert done.status_code == 200, done.text
    assert (done.json()["changed"], done.json()["selection_digest"]) == (2, recounted["selection_digest"])


async def test_a_request_moved_out_of_the_selection_after_the_count_is_left_alone(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stays = await submit(client, keys["app"], type="access", email="stays@example.net", locale="en")
    moved = await submit(client, keys["app"], type="access", email="moved@example.net", locale="en")
    read_selection = repository.selection_ids

    async def counted_then_accepted_by_another_operator(
        session: Any, *args: Any, **kwargs: Any
    ) -> list[uuid.UUID]:
        ids = await read_selection(session, *args, **kwargs)
        # Another operator accepts one request (manual handling) after the selection was counted and before
        # its batch: the real single accept, in the call's own transaction (SQLite lets one writer at a time),
        # committed before the first batch reads. It is in_progress now, which a dismiss would still allow.
        await actions.accept(
            session, app.state.ctx, request_id=uuid.UUID(moved["id"]), handling="manual", actor="Bea"
        )
        return ids

    monkeypatch.setattr(repository, "selection_ids", counted_then_accepted_by_another_operator)
    reason = "We received the same request twice; the first one is answered."
    body = {"filter": {"status": ["pending"]}, "reason": reason, "notify": True, "expected_count": 2}
    response = await _post(client, keys["operator"], DISMISS, body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["matched"], result["changed"], result["skipped_count"]) == (2, 1, 1)
    assert result["skipped"] == [
        {"id": moved["id"], "status": "in_progress", "reason": "no longer matches the filter"}
    ]
    assert (await detail(client, keys["operator"], stays["id"]))["status"] == "deleted"
    accepted = await detail(client, keys["operator"], moved["id"])
    assert (accepted["status"], accepted["handling"]) == ("in_progress", "manual")
    assert "deleted" not in [e["action"] for e in accepted["events"]]
    await app.state.worker.run_until_idle()
    assert [e.to for e in await sent(app, kind="request_declined")] == ["stays@example.net"]


@pytest.fixture
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip(
            "two bulk calls racing need PostgreSQL's row locks and concurrency (SQLite runs one writer at a "
            "time, so the calls never overlap); set TEST_DATABASE_URL"
        )


@pytest.mark.usefixtures("_needs_postgres")
async def test_two_operators_at_once_each_request_accepted_once(
    client: httpx.AsyncClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BATCH", 10)
    ids = [
        (await submit(client, keys["app"], type="access", email=f"race{i}@example.org"))["id"]
        for i in range(40)
    ]
    body = {"filter": {"status": ["pending"]}, "handling": "manual", "expected_count": 40}
    first, second = await asyncio.gather(
        _post(client, keys["operator"], ACCEPT, body), _post(client, keys["admin"], ACCEPT, body)
    )
    answers = [r.json() for r in (first, second) if r.status_code == 200]
    refused = [r for r in (first, second) if r.status_code != 200]
    assert all(r.status_code == 409 for r in refused)
    assert sum(a["changed"] for a in answers) == 40
    for answer in answers:
        assert answer["changed"] + answer["skipped_count"] == 40
        for skipped in answer["skipped"]:
            assert skipped["status"] == "in_progress"
            assert skipped["reason"] in (
                "no longer matches the filter",
                "changed by someone else at the same time",
                "An access request in status 'in_progress' cannot be accepted.",
            )
    for request_id in ids:
        events = (await detail(client, keys["operator"], request_id))["events"]
        assert [e["action"] for e in events].count("accepted") == 1


async def test_bulk_dismiss_with_notify_emails_every_customer(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    ids = [
        (await submit(client, keys["app"], type="access", email=f"dup{i}@example.net", locale="en"))["id"]
        for i in range(3)
    ]
    kept = await submit(client, keys["app"], type="access", email="keep@example.net")
    reason = "We received the same request twice; the first one is answered."
    body = {"filter": {"q": "dup"}, "reason": reason, "notify": True, "expected_count": 3}
    response = await _post(client, keys["operator"], DISMISS, body)
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 3

    await app.state.worker.run_until_idle()
    declined = await sent(app, kind="request_declined")
    assert sorted(e.to for e in declined) == [f"dup{i}@example.net" for i in range(3)]
    for email in declined:
        assert reason in email.text
    for request_id in ids:
        request = await detail(client, keys["operator"], request_id)
        assert request["status"] == "deleted"
        assert request["events"][-1]["action"] == "deleted"
        assert request["events"][-1]["actor"] == "operator-key"
        assert request["events"][-1]["detail"] == f"the customer is told: {reason}"
    assert (await detail(client, keys["operator"], kept["id"]))["status"] == "pending"
    # Dismissed requests leave the default list: the selection is empty now.
    count = {"filter": {"q": "dup"}, "reason": reason, "notify": True, "dry_run": True}
    assert (await _post(client, keys["operator"], DISMISS, count)).json()["matched"] == 0


async def test_bulk_dismiss_without_notify_sends_nothing_and_skips_what_cannot_be_dismissed(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    quiet = await submit(client, keys["app"], type="access", email="quiet@example.net")
    busy = await submit(client, keys["app"], type="access", email="quiet2@example.net")
    response = await client.post(
        f"/v1/privacy-requests/{busy['id']}/accept",
        json={"handling": "automatic"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200
    body = {"filter": {"q": "quiet"}, "reason": "Test entries.", "notify": False, "expected_count": 2}
    result = (await _post(client, keys["operator"], DISMISS, body)).json()
    assert (result["changed"], result["skipped_count"]) == (1, 1)
    assert result["skipped"] == [
        {
            "id": busy["id"],
            "status": "in_progress",
            "reason": "An access request in status 'in_progress' cannot be deleted.",
        }
    ]
    assert (await detail(client, keys["operator"], quiet["id"]))["status"] == "deleted"
    assert await sent(app, kind="request_declined") == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (ACCEPT, {"filter": {"stauts": ["pending"]}, "handling": "manual", "dry_run": True}, "filter.stauts"),
        (
            ACCEPT,
            {"filter": {"email": "not-an-address"}, "handling": "manual", "dry_run": True},
            "filter.email",
        ),
        (
            ACCEPT,
            {"filter": {"due_before": "2026-01-01T00:00:00"}, "handling": "manual", "dry_run": True},
            "filter.due_before",
        ),
        (ACCEPT, {"filter": {"status": ["open"]}, "handling": "manual", "dry_run": True}, "filter.status.0"),
        (ACCEPT, {"filter": {"overdue": "yes"}, "handling": "manual", "dry_run": True}, "filter.overdue"),
        (ACCEPT, {"filter": {"q": "   "}, "handling": "manual", "dry_run": True}, "filter.q"),
        (ACCEPT, {"filter": {}, "handling": "manual"}, "expected_count"),
        (ACCEPT, {"filter": {}, "handling": "manual", "expected_count": -1}, "expected_count"),
        (ACCEPT, {"filter": {}, "handling": "manual", "expected_count": 10_001}, "expected_count"),
        (
            ACCEPT,
            {"filter": {}, "handling": "manual", "expected_count": 1, "selection_digest": "abc"},
            "selection_digest",
        ),
        (ACCEPT, {"filter": {}, "handling": "later", "dry_run": True}, "handling"),
        (DISMISS, {"filter": {}, "reason": "", "notify": False, "dry_run": True}, "reason"),
        (DISMISS, {"filter": {}, "reason": "Spam.", "dry_run": True}, "notify"),
        (DISMISS, {"filter": {}, "reason": "Spam.", "notify": "false", "dry_run": True}, "notify"),
    ],
)
async def test_bad_bodies_are_refused(
    client: httpx.AsyncClient, keys: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    await submit(client, keys["app"], type="access", email="untouched@example.org")
    response = await _post(client, keys["operator"], path, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert field in [f["field"] for f in response.json()["fields"]], response.json()
    assert len(await _list_all(client, keys["operator"], status="pending")) == 1


async def test_a_selection_too_large_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "BULK_MAX", 4)
    for i in range(5):
        await submit(client, keys["app"], type="access", email=f"many{i}@example.org")
    response = await _post(
        client, keys["operator"], ACCEPT, {"filter": {}, "handling": "manual", "dry_run": True}
    )
    assert response.status_code == 422
    assert response.json()["fields"] == [{"field": "filter", "detail": "more than 4 requests match"}]


async def test_only_operators_act_in_bulk(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    body = {"filter": {}, "handling": "manual", "dry_run": True}
    assert (await _post(client, keys["app"], ACCEPT, body)).status_code == 403
    assert (await client.post(ACCEPT, json=body)).status_code == 401
    dismiss = {"filter": {}, "reason": "x", "notify": False, "dry_run": True}
    assert (await _post(client, keys["app"], DISMISS, dismiss)).status_code == 403
