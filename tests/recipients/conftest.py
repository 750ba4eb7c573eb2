"""The recipients tests' world: the CRM and the support desk (tests/processing/world.py), three recipients
in SOURCES_FILE, a real SMTP server for every email and a real webhook receiver that verifies signatures.

- Postfalke GmbH (email, German) receives support.newsletter and knows customers by email only;
- Paketblitz AG (webhook) receives crm.orders and knows customers by customer id only;
- Archiv Nord (email) receives support.ticket_notes, which an erasure keeps: never told.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ..helpers import submit, text_of
from ..notifications.smtp_server import SmtpServer, smtp_settings
from ..processing.world import link_in, write_world
from ..webhooks.receiver import Receiver, running_receiver

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes
NEWSLETTER = "privacy@postfalke.example"
ARCHIVE = "archive@nord.example"


def recipients_yaml(webhook_url: str) -> str:
    return f"""\
recipients:
  - name: Postfalke GmbH
    email: {NEWSLETTER}
    entities: [support.newsletter]
    identifiers: [email]
    language: de
    purpose:
      en: Sends our newsletter
      de: Versendet unseren Newsletter
  - name: Paketblitz AG
    webhook: {webhook_url}
    secret_env: PAKETBLITZ_SECRET
    entities: [crm.orders, crm.customers]
    identifiers: [customer_id]
  - name: Archiv Nord
    email: {ARCHIVE}
    entities: [support.ticket_notes]
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        server.secret = WEBHOOK_SECRET
        yield server


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "world"


@pytest.fixture
def sources_file(world: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAKETBLITZ_SECRET", WEBHOOK_SECRET)
    return write_world(world, extra=recipients_yaml(receiver.url))


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        **smtp_settings(smtp_server.port),
        "job_max_attempts": 2,
        # Quick retries; a module that wants a receiver given up on shortens WEBHOOK_RETRY_FOR.
        "webhook_retry_base": "PT0.01S",
        "webhook_retry_max_delay": "PT0.05S",
        "webhook_retry_for": "PT60S",
    }


def read(message: EmailMessage) -> str:
    """The plain-text part as a mail program shows it (lines travel with CRLF)."""
    return text_of(message).replace("\r\n", "\n")


def mails_to(smtp_server: SmtpServer, address: str) -> list[EmailMessage]:
    return [message for message in smtp_server.messages if message["To"] == address]


async def confirmed_deletion(
    client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer, app: FastAPI, *, email: str
) -> uuid.UUID:
    """Submit a deletion, follow the confirmation email's link and confirm; the request id (in_progress)."""
    request = await submit(client, keys["app"], type="deletion", email=email)
    await app.state.worker.run_until_idle()
    [confirmation] = [m for m in mails_to(smtp_server, email) if "Confirm" in str(m["Subject"])]
    token = link_in(text_of(confirmation), "/v1/verify").split("token=", 1)[1]
    confirmed = await client.post("/v1/verify", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    return uuid.UUID(request["id"])
