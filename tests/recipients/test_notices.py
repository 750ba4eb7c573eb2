"""A confirmed deletion tells each recipient of erased data once (GDPR Art. 19): by email through a real SMTP
server, or by a signed webhook to a real receiver; the timeline says so and the customer's email names them."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from standardwebhooks import Webhook

from app.core.db import unit_of_work
from app.models import Email, Job, RecipientNotice
from app.recipients.service import notify_recipients
from app.requests import repository

from ..helpers import detail
from ..notifications.smtp_server import SmtpServer
from ..processing.world import work
from ..webhooks.receiver import Receiver
from .conftest import ARCHIVE, NEWSLETTER, WEBHOOK_SECRET, confirmed_deletion, mails_to, read


def recipient_events(view: dict[str, object]) -> list[tuple[str, str, str]]:
    events = view["events"]
    assert isinstance(events, list)
    return [
        (event["action"], event["actor"], event["detail"])
        for event in events
        if event["action"].startswith("recipient_")
    ]


async def test_each_recipient_of_erased_data_is_told_once(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)

    view = await detail(client, keys["operator"], str(request_id))
    assert view["status"] == "processed"
    # The newsletter provider: one email, in its language (German), naming the customer by email only.
    [notice] = mails_to(smtp_server, NEWSLETTER)
    assert notice["Subject"] == "Bitte löschen Sie die personenbezogenen Daten einer Kundin oder eines Kunden"
    assert notice["Content-Language"] == "de"
    text = read(notice)
    assert "wie es Art. 19 DSGVO verlangt" in text
    assert "- E-Mail-Adresse: ada@example.com\n" in text
    assert "Die Daten, die Sie von uns erhalten haben:\n- newsletter\n" in text
    assert f"Vorgangsnummer: {request_id}" in text
    for more_than_needed in ("cus_1", "Ada Lovelace", "Lovelace", "Kundennummer", "orders", "tickets"):
        assert more_than_needed not in text
    # The logistics partner: one signed POST naming the customer by customer id only, with the entities the
    # erasure touched of those it receives.
    assert receiver.forged == []
    [message] = receiver.messages
    assert Webhook(WEBHOOK_SECRET).verify(message.body, message.headers) == message.payload
    assert message.payload["type"] == "erasure.requested"
    assert message.payload["data"] == {
        "request_id": str(request_id),
        "regulation": "gdpr",
        "erased_at": message.payload["timestamp"],
        "customer": {"customer_id": "cus_1"},
        "entities": [
            {"entity": "crm.orders", "title": "orders"},
            {"entity": "crm.customers", "title": "customers"},
        ],
    }
    assert "ada" not in message.body.lower()
    # Ticket notes are kept: their recipient is not told.
    assert mails_to(smtp_server, ARCHIVE) == []

    assert recipient_events(view) == [
        ("recipient_notified", "system", "Postfalke GmbH, by email: support.newsletter"),
        ("recipient_notified", "system", "Paketblitz AG, by webhook: crm.orders, crm.customers"),
    ]
    assert view["result"]["recipients"] == [
        {
            "name": "Postfalke GmbH",
            "purpose": {"en": "Sends our newsletter", "de": "Versendet unseren Newsletter"},
        },
        {"name": "Paketblitz AG", "purpose": None},
    ]
    # The customer's email names those asked to erase too (in the customer's language).
    [done] = [m for m in mails_to(smtp_server, "ada@example.com") if "carried out" in str(m["Subject"])]
    assert (
        "We have passed some of your data on to others; we are asking them to erase it too:\n"
        "- Postfalke GmbH: Sends our newsletter\n"
        "- Paketblitz AG\n"
    ) in read(done)
    assert "Archiv Nord" not in read(done)


async def test_only_the_recipients_of_the_entities_an_erasure_touched_are_told(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    # Alan has a customer account only: Paketblitz receives customers, so it is told; nobody else.
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="alan@example.com")
    await work(app)

    view = await detail(client, keys["operator"], str(request_id))
    assert view["status"] == "processed"
    assert recipient_events(view) == [
        ("recipient_notified", "system", "Paketblitz AG, by webhook: crm.customers"),
    ]
    assert mails_to(smtp_server, NEWSLETTER) == []
    [message] = receiver.messages
    assert message.payload["data"]["customer"] == {"customer_id": "cus_3"}
    assert message.payload["data"]["entities"] == [{"entity": "crm.customers", "title": "customers"}]
    [done] = [m for m in mails_to(smtp_server, "alan@example.com") if "carried out" in str(m["Subject"])]
    assert "- Paketblitz AG\n" in read(done)
    assert "Postfalke" not in read(done)


async def test_a_completion_that_runs_again_tells_nobody_twice(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    """The end of an erasure run a second time (a retried job whose first run committed): the unique
    (request, recipient) notice keeps everyone from being told again; the same recipients are named."""
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)
    view = await detail(client, keys["operator"], str(request_id))
    report = {key: value for key, value in view["result"].items() if key != "recipients"}

    ctx = app.state.ctx
    async with unit_of_work(app.state.sessionmaker) as session:
        request = await repository.get(session, request_id)
        assert request is not None
        told = await notify_recipients(session, ctx, request, report)
    assert [recipient["name"] for recipient in told] == ["Postfalke GmbH", "Paketblitz AG"]
    await work(app)

    async with unit_of_work(app.state.sessionmaker) as session:
        notices = await session.scalar(select(func.count()).select_from(RecipientNotice))
        notice_emails = await session.scalar(
            select(func.count()).select_from(Email).where(Email.kind == "recipient_erasure_notice")
        )
        deliveries = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "deliver_recipient_notice")
        )
    assert (notices, notice_emails, deliveries) == (2, 1, 1)
    assert len(mails_to(smtp_server, NEWSLETTER)) == 1
    assert len(receiver.calls) == 1
    view = await detail(client, keys["operator"], str(request_id))
    assert len(recipient_events(view)) == 2


async def test_a_receiver_down_for_a_while_gets_the_notice_once_with_one_webhook_id(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    receiver.failing = 2
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email="ada@example.com")
    await work(app)

    assert len(receiver.calls) == 3
    assert len({call["webhook-id"] for call in receiver.calls}) == 1
    [message] = receiver.messages
    assert message.payload["data"]["request_id"] == str(request_id)
    async with unit_of_work(app.state.sessionmaker) as session:
        notice = await session.scalar(select(RecipientNotice).where(RecipientNotice.channel == "webhook"))
    assert notice is not None
    assert (notice.status, notice.body) == ("delivered", None)
    view = await detail(client, keys["operator"], str(request_id))
    assert [action for action, _, _ in recipient_events(view)] == ["recipient_notified", "recipient_notified"]
