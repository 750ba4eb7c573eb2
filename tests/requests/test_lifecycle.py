"""Every allowed transition, and the refused ones answered 409 with nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..helpers import detail, mail_with_subject, mailbox, submit, text_of


async def _accept(client: httpx.AsyncClient, key: str, request_id: str, handling: str) -> httpx.Response:
    return await client.post(
        f"/v1/privacy-requests/{request_id}/accept", json={"handling": handling}, headers=bearer(key)
    )


async def test_manual_access_accept_then_fulfil_without_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    accepted = await _accept(client, keys["operator"], request["id"], "manual")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "in_progress"
    assert accepted.json()["handling"] == "manual"
    assert accepted.json()["accepted_at"] is not None

    again = await _accept(client, keys["operator"], request["id"], "manual")
    assert again.status_code == 409
    assert again.json()["error"] == "invalid_transition"

    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": False, "note": "sent by registered post"},
        headers=bearer(keys["operator"]),
    )
    assert fulfilled.status_code == 200
    assert fulfilled.json()["status"] == "processed"
    view = await detail(client, keys["operator"], request["id"])
    assert [e["action"] for e in view["events"]] == ["received", "accepted", "fulfilled"]
    assert view["events"][1]["actor"] == "operator-key"
    await app.state.worker.run_until_idle()
    last = mail_with_subject(app.state.ctx.settings.mail_dir, "is complete")
    assert "sent by registered post" in text_of(last)


async def test_fulfil_is_refused_for_automatic_handling_and_pending(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    pending = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil", json={}, headers=bearer(keys["operator"])
    )
    assert pending.status_code == 409
    await _accept(client, keys["operator"], request["id"], "automatic")
    automatic = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil", json={}, headers=bearer(keys["operator"])
    )
    assert automatic.status_code == 409
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "in_progress"


async def test_accept_refused_for_deletion_requests_awaiting_confirmation(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="deletion", email="ada@example.com")
    response = await _accept(client, keys["operator"], request["id"], "automatic")
    assert response.status_code == 409
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "unverified"


@pytest.mark.parametrize("type_", ["access", "deletion"])
async def test_dismiss_hides_from_the_default_list_but_keeps_the_record(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, type_: str
) -> None:
    request = await submit(client, keys["app"], type=type_, email="ada@example.com")
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "Duplicate of a request by post", "notify": "true"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "deleted"
    assert response.json()["deleted_at"] is not None
    default = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert request["id"] not in [item["id"] for item in default.json()["items"]]
    asked = await client.get(
        "/v1/privacy-requests", params={"status": "deleted"}, headers=bearer(keys["operator"])
    )
    assert [item["id"] for item in asked.json()["items"]] == [request["id"]]
    view = await detail(client, keys["operator"], request["id"])
    assert view["events"][-1] == {
        **view["events"][-1],
        "action": "deleted",
        "detail": "the customer is told: Duplicate of a request by post",
    }
    await app.state.worker.run_until_idle()
    declined = mail_with_subject(app.state.ctx.settings.mail_dir, "cannot carry out")
    assert "Duplicate of a request by post" in text_of(declined)
    again = await client.delete(
        f"/v1/privacy-requests/{request['id']}",
        params={"reason": "x", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert again.status_code == 409


async def test_dismiss_requires_a_reason(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    response = await client.delete(
        f"/v1/privacy-requests/{request['id']}", params={"notify": "true"}, headers=bearer(keys["operator"])
    )
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["reason"]


async def test_dismiss_in_progress_only_under_manual_handling(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    automatic = await submit(client, keys["app"], type="access", email="ada@example.com")
    await _accept(client, keys["operator"], automatic["id"], "automatic")
    refused = await client.delete(
        f"/v1/privacy-requests/{automatic['id']}",
        params={"reason": "x", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert refused.status_code == 409
    manual = await submit(client, keys["app"], type="access", email="grace@example.com")
    await _accept(client, keys["operator"], manual["id"], "manual")
    allowed = await client.delete(
        f"/v1/privacy-requests/{manual['id']}",
        params={"reason": "x", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert allowed.status_code == 200


async def test_extend_once_before_due_gdpr_two_months(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    clock.freeze(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    assert request["due_at"] == "2026-02-28T12:00:00Z"
    extended = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "Data in archived systems"},
        headers=bearer(keys["operator"]),
    )
    assert extended.status_code == 200
    assert extended.json()["due_at"] == "2026-04-28T12:00:00Z"
    assert extended.json()["extended_at"] == "2026-01-31T12:00:00Z"
    twice = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "again"},
        headers=bearer(keys["operator"]),
    )
    assert twice.status_code == 409
    await app.state.worker.run_until_idle()
    told = mail_with_subject(app.state.ctx.settings.mail_dir, "need more time")
    assert "Data in archived systems" in text_of(told)


async def test_extend_ccpa_45_days_lgpd_refused_and_after_due_refused(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    clock.freeze(datetime(2026, 5, 1, tzinfo=UTC))
    ccpa = await submit(client, keys["app"], type="access", email="ada@example.com", regulation="ccpa")
    assert ccpa["due_at"] == "2026-06-15T00:00:00Z"
    response = await client.post(
        f"/v1/privacy-requests/{ccpa['id']}/extend", json={"reason": "r"}, headers=bearer(keys["operator"])
    )
    assert response.json()["due_at"] == "2026-07-30T00:00:00Z"
    lgpd = await submit(client, keys["app"], type="access", email="grace@example.com", regulation="lgpd")
    assert lgpd["due_at"] == "2026-05-16T00:00:00Z"
    refused = await client.post(
        f"/v1/privacy-requests/{lgpd['id']}/extend", json={"reason": "r"}, headers=bearer(keys["operator"])
    )
    assert refused.status_code == 409
    late = await submit(client, keys["app"], type="access", email="alan@example.com")
    clock.advance(timedelta(days=31))
    too_late = await client.post(
        f"/v1/privacy-requests/{late['id']}/extend", json={"reason": "r"}, headers=bearer(keys["operator"])
    )
    assert too_late.status_code == 409
    view = await detail(client, keys["operator"], late["id"])
    assert view["overdue"] is True
    assert view["days_left"] < 0


async def test_resend_verification_replaces_the_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    request = await submit(client, keys["app"], type="deletion", email="ada@example.com")
    await app.state.worker.run_until_idle()
    response = await client.post(
        f"/v1/privacy-requests/{request['id']}/resend-verification", headers=bearer(keys["operator"])
    )
    assert response.status_code == 200
    await app.state.worker.run_until_idle()
    first, second = mailbox(app.state.ctx.settings.mail_dir)
    old_link = text_of(first).split("token=")[1].split()[0]
    new_link = text_of(second).split("token=")[1].split()[0]
    assert old_link != new_link
    old = await client.get("/v1/verify", params={"token": old_link})
    assert old.status_code == 404
    new = await client.get("/v1/verify", params={"token": new_link})
    assert new.status_code == 200

    access = await submit(client, keys["app"], type="access", email="ada@example.com")
    refused = await client.post(
        f"/v1/privacy-requests/{access['id']}/resend-verification", headers=bearer(keys["operator"])
    )
    assert refused.status_code == 409


async def test_unknown_request_id_is_404_and_malformed_id_is_422(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    missing = await client.post(
        "/v1/privacy-requests/00000000-0000-0000-0000-000000000000/accept",
        json={"handling": "manual"},
        headers=bearer(keys["operator"]),
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    malformed = await client.get("/v1/privacy-requests/not-a-uuid", headers=bearer(keys["operator"]))
    assert malformed.status_code == 422
