"""A recipient that knows customers only by an identifier the request does not hold (a customer id, for
someone in no customer directory) cannot be told of the erasure: the timeline says so and the privacy team is
alerted, naming the recipient and why, so that someone tells them another way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import TEAM
from ..helpers import detail
from ..notifications.smtp_server import SmtpServer
from ..processing.world import work, write_world
from ..webhooks.receiver import Receiver
from .conftest import NEWSLETTER, WEBHOOK_SECRET, confirmed_deletion, mails_to, read, recipients_yaml
from .test_notices import recipient_events

STRANGER = "stranger@example.com"  # on the newsletter list, in no customer directory: no customer id
KUNDENCLUB = """\
  - name: Kundenclub KG
    email: privacy@kundenclub.example
    entities: [support.newsletter]
    identifiers: [customer_id]
"""


@pytest.fixture
def sources_file(world: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAKETBLITZ_SECRET", WEBHOOK_SECRET)
    path = write_world(world, extra=recipients_yaml(receiver.url) + KUNDENCLUB)
    with sqlite3.connect(world / "support.db") as connection:
        connection.execute("INSERT INTO newsletter (email, list) VALUES (?, ?)", (STRANGER, "weekly"))
    return path


async def test_a_recipient_without_an_identifier_it_knows_is_not_told_and_the_team_is(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    smtp_server: SmtpServer,
    receiver: Receiver,
) -> None:
    request_id = await confirmed_deletion(client, keys, smtp_server, app, email=STRANGER)
    await work(app)

    view = await detail(client, keys["operator"], str(request_id))
    assert view["status"] == "processed"
    assert view["result"]["sources"]["support"]["newsletter"]["action"] == "deleted"
    # The newsletter provider knows the stranger by email: told. The customer club knows customers by id only,
    # and the stranger has none: not told, and the timeline says why.
    assert recipient_events(view) == [
        ("recipient_notified", "system", "Postfalke GmbH, by email: support.newsletter"),
        (
            "recipient_not_notified",
            "system",
            "Kundenclub KG: none of the identifiers they know this customer by (customer_id) is on the request",
        ),
    ]
    assert len(mails_to(smtp_server, NEWSLETTER)) == 1
    assert mails_to(smtp_server, "privacy@kundenclub.example") == []

    [alert] = [m for m in mails_to(smtp_server, TEAM) if "Recipient not told" in str(m["Subject"])]
    assert str(alert["Subject"]) == f"Recipient not told of an erasure: deletion request {request_id}"
    assert (
        f"Kundenclub KG received data that deletion request {request_id} erased, but could not be told to erase "
        "it too: none of the identifiers they know this customer by (customer_id) is on the request."
    ) in " ".join(read(alert).split())
    # The alert names the recipient and the request, not the customer.
    assert STRANGER not in read(alert)
    # The customer reads who was asked to erase too: the customer club was not.
    [completed] = [m for m in mails_to(smtp_server, STRANGER) if "carried out" in str(m["Subject"])]
    assert "- Postfalke GmbH: Sends our newsletter\n" in read(completed)
    assert "Kundenclub" not in read(completed)
