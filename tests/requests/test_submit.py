"""Submitting requests: new, duplicate, idempotent, unknown people, validation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..helpers import detail, mailbox, submit, text_of


async def test_access_request_is_pending_with_a_due_date_and_an_acknowledgement(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: object
) -> None:
    clock.freeze(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    response = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "Ada@Example.com", "channel": "ios"},
        headers=bearer(keys["app"]),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending"
    assert body["regulation"] == "gdpr"
    assert body["locale"] == "en"
    assert body["due_at"] == "2026-04-09T09:00:00Z"
    assert body["days_left"] == 30
    assert body["overdue"] is False
    assert "customer" not in body, "the app role must not learn whether someone is a customer"
    assert "email" not in body, "an app key is public: the app view names no one"

    operator_view = await detail(client, keys["operator"], body["id"])
    assert operator_view["customer"] == {"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace"}
    assert [e["action"] for e in operator_view["events"]] == ["received"]
    assert operator_view["events"][0]["actor"] == "app-key"

    assert await app.state.worker.run_until_idle() >= 1
    [ack] = mailbox(app.state.ctx.settings.mail_dir)
    assert ack["To"] == "ada@example.com"
    assert "9 April 2026" in text_of(ack)


async def test_deletion_request_is_unverified_and_sends_a_confirmation_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    body = await submit(
        client, keys["app"], type="deletion", customer_id="cus_2", headers=signed_in("cus_2"), locale="de"
    )
    assert body["status"] == "unverified"
    operator_view = await detail(client, keys["operator"], body["id"])
    assert operator_view["email"] == "grace@example.com", (
        "the directory's address is used when only customer_id is given"
    )
    await app.state.worker.run_until_idle()
    [confirmation] = mailbox(app.state.ctx.settings.mail_dir)
    assert confirmation["To"] == "grace@example.com"
    assert "http://privacy.brand.test/v1/verify?token=" in text_of(confirmation)


async def test_unknown_email_is_accepted_exactly_like_a_known_one(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    known = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "ada@example.com"},
        headers=bearer(keys["app"]),
    )
    unknown = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "nobody@example.com"},
        headers=bearer(keys["app"]),
    )
    assert known.status_code == unknown.status_code == 201
    assert set(known.json()) == set(unknown.json())
    assert known.json()["status"] == unknown.json()["status"] == "pending"
    operator_view = await detail(client, keys["operator"], unknown.json()["id"])
    assert operator_view["customer"] is None


async def test_unknown_customer_id_is_422_for_an_operator(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "customer_id": "cus_404"},
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"][0]["field"] == "customer_id"


async def test_an_open_request_of_the_same_type_is_returned_instead_of_a_new_one(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    first = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "ada@example.com"},
        headers=bearer(keys["app"]),
    )
    # the same address again is the same (unproven) subject
    again = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "ADA@example.com"},
        headers=bearer(keys["app"]),
    )
    other_type = await client.post(
        "/v1/privacy-requests",
        json={"type": "deletion", "email": "ada@example.com"},
        headers=bearer(keys["app"]),
    )
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other_type.status_code == 201
    await app.state.worker.run_until_idle()
    assert len(mailbox(app.state.ctx.settings.mail_dir)) == 2, "no new email for the duplicate"


async def test_a_closed_request_does_not_block_a_new_one(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    first = await submit(client, keys["app"], type="access", email="nobody@example.com")
    dismissed = await client.delete(
        f"/v1/privacy-requests/{first['id']}",
        params={"reason": "test", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200
    second = await client.post(
        "/v1/privacy-requests",
        json={"type": "access", "email": "nobody@example.com"},
        headers=bearer(keys["app"]),
    )
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]


async def test_idempotency_key_replays_the_first_answer(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    headers = {**bearer(keys["app"]), "Idempotency-Key": "retry-123"}
    body = {"type": "deletion", "email": "someone@example.org"}
    first = await client.post("/v1/privacy-requests", json=body, headers=headers)
    repeat = await client.post("/v1/privacy-requests", json=body, headers=headers)
    assert first.status_code == repeat.status_code == 201
    assert repeat.json() == first.json()
    changed = await client.post("/v1/privacy-requests", json={**body, "type": "access"}, headers=headers)
    assert changed.status_code == 409
    assert changed.json()["error"] == "conflict"
    listing = await client.get(
        "/v1/privacy-requests", params={"email": "someone@example.org"}, headers=bearer(keys["operator"])
    )
    assert len(listing.json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "access"}, "body"),
        ({"type": "copy", "email": "a@b.example"}, "type"),
        ({"type": "access", "email": "not-an-email"}, "email"),
        ({"type": "access", "email": "a@b.example", "regulation": "hipaa"}, "regulation"),
        ({"type": "access", "email": "a@b.example", "locale": "fr"}, "locale"),
        ({"type": "access", "email": "a@b.example", "channel": "x" * 51}, "channel"),
        ({"type": "access", "email": 42}, "email"),
    ],
)
async def test_bad_bodies_are_422_with_the_field_named(
    client: httpx.AsyncClient, keys: dict[str, str], body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/privacy-requests", json=body, headers=bearer(keys["app"]))
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "validation_error"
    assert error["detail"]
    assert field in [f["field"] for f in error["fields"]] or field == "body"
    listing = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert listing.json()["items"] == [], "nothing is stored for a rejected request"


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b"null", b'{"type": "access", "email": "a@b.example"', "\u00ff".encode("latin-1")],
)
async def test_malformed_json_is_422(client: httpx.AsyncClient, keys: dict[str, str], raw: bytes) -> None:
    response = await client.post(
        "/v1/privacy-requests",
        content=raw,
        headers={**bearer(keys["app"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
