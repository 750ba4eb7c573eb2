"""A notice that cannot be delivered (a receiver down past its retries, a mailbox that does not exist) goes on
the request's timeline, naming the recipient, so the team can tell them another way."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.db import unit_of_work
from app.models import Email, RecipientNotice

from ..conftest import TEAM
from ..helpers import detail
from ..notifications.smtp_server import SmtpServer
from ..processing.world import work
from ..webhooks.receiver import Receiver
from .conftest import NEWSLETTER, confirmed_deletion, mails_to, read
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


def team_alerts(smtp_server: SmtpServer) -> list[EmailMessage]:
    """The privacy team's emails saying a recipient was not told of an erasure."""
    return [m for m in mails_to(smtp_server, TEAM) if "Recipient not told" in str(m["Subject"])]


async def test_the_team_is_told_which_receiver_gave_up_on_its_webhook_notice(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    receiver.failing = 1000
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)

    [alert] = team_alerts(smtp_server)
    assert str(alert["Subject"]) == f"Recipient not told of an erasure: deletion request {request_id}"
    text = " ".join(read(alert).split())
    assert (
        f"Paketblitz AG received data that deletion request {request_id} erased, but could not be told to "
        "erase it too: the webhook notice could not be delivered ("
    ) in text
    assert "the receiver answered 503" in text
    assert (
        "Tell them another way, and note on the request that you did: "
        f"http://privacy.brand.test/v1/privacy-requests/{request_id}"
    ) in text
    # The newsletter provider was told: nobody alerts the team about it.
    assert "Postfalke" not in text
    assert len(mails_to(smtp_server, NEWSLETTER)) == 1
    assert await outbox_kinds(app, TEAM) == ["recipient_not_told"]


async def test_the_team_is_told_which_recipients_mailbox_refused_its_notice(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    smtp_server.refuse_for = {NEWSLETTER: "550 5.1.1 Mailbox does not exist"}
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)

    [alert] = team_alerts(smtp_server)
    text = " ".join(read(alert).split())
    assert (
        f"Postfalke GmbH received data that deletion request {request_id} erased, but could not be told to "
        "erase it too: the email notice could not be delivered ("
    ) in text
    assert "550 5.1.1 Mailbox does not exist" in text
    assert "Paketblitz" not in text
    assert len(receiver.messages) == 1
    # The alert is about the recipient, not a customer's email given up on.
    assert await outbox_kinds(app, TEAM) == ["recipient_not_told"]


async def outbox_kinds(app: FastAPI, address: str) -> list[str]:
    async with unit_of_work(app.state.sessionmaker) as session:
        return list((await session.scalars(select(Email.kind).where(Email.to_address == address))).all())
