"""Events reach a real receiver once each, signed per Standard Webhooks, carrying no personal data."""

from __future__ import annotations

import base64
from datetime import datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from standardwebhooks import Webhook

from app.core.config import Settings
from app.models import WebhookSubscription

from ..conftest import bearer
from ..helpers import accept, detail, submit
from ..processing.world import confirmed_deletion, work
from .conftest import deliveries, subscribe
from .receiver import Receiver


async def test_an_access_request_accepted_and_processed_reaches_the_receiver_once_per_event(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    hook = await subscribe(
        client, keys["admin"], receiver, ["request.received", "request.accepted", "request.processed"]
    )
    request = await submit(client, keys["app"], type="access", email="ada@example.com", regulation="gdpr")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    assert receiver.forged == []
    # Each event once (webhooks promise no order: the worker delivers several at a time).
    assert sorted(receiver.types()) == ["request.accepted", "request.processed", "request.received"]
    assert len({message.webhook_id for message in receiver.messages}) == 3
    view = await detail(client, keys["operator"], request["id"])
    status_after = {
        "request.received": "pending",
        "request.accepted": "in_progress",
        "request.processed": "processed",
    }
    for message in receiver.messages:
        status = status_after[message.type]
        # The receiver verified it with the library (above); verified again here with the secret shown once.
        assert Webhook(hook["secret"]).verify(message.body, message.headers) == message.payload
        assert message.webhook_id.startswith("msg_")
        assert message.headers["content-type"] == "application/json"
        assert message.payload["data"] == {
            "id": request["id"],
            "type": "access",
            "status": status,
            "regulation": "gdpr",
            "received_at": view["received_at"],
            "due_at": view["due_at"],
        }
        assert datetime.fromisoformat(message.payload["timestamp"])
        # Nothing that names the person: a receiver reads the details with an operator key.
        assert "ada" not in message.body.lower()
        assert "cus_1" not in message.body
    # Nothing more is sent, however often the worker runs.
    await work(app)
    assert len(receiver.messages) == 3

    page = await deliveries(client, keys["admin"], hook["id"])
    assert page["next_cursor"] is None
    assert sorted(item["event_type"] for item in page["items"]) == [
        "request.accepted",
        "request.processed",
        "request.received",
    ]
    for item in page["items"]:
        assert item["status"] == "delivered"
        assert item["request_id"] == request["id"]
        assert item["delivered_at"] is not None
        [attempt] = item["attempts"]
        assert attempt["status_code"] == 204
        assert attempt["error"] is None
    assert {item["webhook_id"] for item in page["items"]} == {m.webhook_id for m in receiver.messages}


async def test_a_confirmed_deletion_raises_verified_processed_and_erasure_completed(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings, receiver: Receiver
) -> None:
    await subscribe(
        client,
        keys["admin"],
        receiver,
        ["request.verified", "request.processed", "erasure.completed", "request.accepted"],
    )
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="grace@example.com")
    await work(app)

    assert receiver.forged == []
    statuses = {message.type: message.payload["data"]["status"] for message in receiver.messages}
    assert len(receiver.messages) == 3
    assert statuses == {
        "request.verified": "in_progress",
        "request.processed": "processed",
        "erasure.completed": "processed",
    }
    assert {message.payload["data"]["id"] for message in receiver.messages} == {request_id}


async def test_only_the_subscribed_events_are_sent_and_none_before_subscribing(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    earlier = await submit(client, keys["app"], type="access", email="ada@example.com")
    await subscribe(client, keys["admin"], receiver, ["request.deleted", "request.extended"])
    await accept(client, keys["operator"], earlier["id"], "manual")
    extended = await client.post(
        f"/v1/privacy-requests/{earlier['id']}/extend",
        json={"reason": "Many systems to search"},
        headers=bearer(keys["operator"]),
    )
    assert extended.status_code == 200, extended.text
    dismissed = await client.delete(
        f"/v1/privacy-requests/{earlier['id']}",
        params={"reason": "A duplicate", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200, dismissed.text
    await work(app)

    assert receiver.forged == []
    by_type = {message.type: message.payload["data"] for message in receiver.messages}
    assert sorted(receiver.types()) == ["request.deleted", "request.extended"]
    assert by_type["request.extended"]["due_at"] == extended.json()["due_at"]
    assert by_type["request.extended"]["status"] == "in_progress"
    assert by_type["request.deleted"]["status"] == "deleted"


async def test_the_secret_is_a_standard_webhooks_secret_shown_once_and_sealed_at_rest(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    hook = await subscribe(client, keys["admin"], receiver, ["request.received"], description="CRM")
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert hook["url"] == receiver.url
    assert hook["events"] == ["request.received"]
    assert hook["description"] == "CRM"

    listed = await client.get("/v1/webhooks", headers=bearer(keys["admin"]))
    assert listed.status_code == 200
    [entry] = listed.json()
    assert "secret" not in entry
    assert entry["id"] == hook["id"]

    async with app.state.sessionmaker() as session:
        stored = await session.scalar(select(WebhookSubscription.secret))
    assert stored is not None
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored
