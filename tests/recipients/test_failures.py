"""A notice that cannot be delivered (a receiver down past its retries, a mailbox that does not exist) goes on
the request's timeline, naming the recipient, so the team can tell them another way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.db import unit_of_work
from app.models import RecipientNotice

from ..helpers import detail
from ..notifications.smtp_server import SmtpServer
from ..processing.world import work
from ..webhooks.receiver import Receiver
from .conftest import NEWSLETTER, confirmed_deletion
from .test_notices import recipient_events


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any]) -> dict[str, Any]:
    # A receiver that stays down is given up on within the test.
    return {**settings_overrides, "webhook_retry_for": "PT1S"}


async def test_a_notice_given_up_on_goes_on_the_timeline(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    """The receiver never answers 2xx (its retries run out) and the newsletter provider's mailbox does not
    exist (a permanent bounce): each failure is on the timeline, naming the recipient; the customer's
    own emails are not reported as failed."""
    receiver.failing = 1000
    smtp_server.refuse_for = {NEWSLETTER: "550 5.1.1 Mailbox does not exist"}
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)

    view = await detail(client, keys["operator"], str(request_id))
    assert view["status"] == "processed"
    failures = sorted(
        (detail_text.split(":", 1)[0], actor)
        for action, actor, detail_text in recipient_events(view)
        if action == "recipient_notice_failed"
    )
    assert failures == [
        ("Paketblitz AG could not be told by webhook; tell them another way", "system"),
        ("Postfalke GmbH could not be told by email; tell them another way", "system"),
    ]
    assert "email_failed" not in [event["action"] for event in view["events"]]
    assert receiver.messages == []
    assert len({call["webhook-id"] for call in receiver.calls}) == 1
    async with unit_of_work(app.state.sessionmaker) as session:
        notices = (await session.scalars(select(RecipientNotice))).all()
    assert {(n.recipient, n.status, n.body) for n in notices} == {
        ("Postfalke GmbH", "failed", None),
        ("Paketblitz AG", "failed", None),
    }
