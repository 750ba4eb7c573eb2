"""No usable link at rest (contract section 7): the ``emails`` table, read with SQL, never holds a working
confirmation or download link; the email as received through a real SMTP server does, and it works."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import bearer
from ..helpers import emails_table, submit, text_of
from ..security.flows import DOWNLOAD_LINK, VERIFY_LINK
from .smtp_server import SmtpServer, smtp_settings

# Anything shaped like a link token (43 URL-safe characters standing alone), wherever it sits in a row.
TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
T0 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return smtp_settings(smtp_server.port)


async def assert_no_working_link(client: httpx.AsyncClient, rows: list[dict[str, Any]]) -> None:
    dump = "\n".join(str(value) for row in rows for value in row.values())
    assert "/v1/verify" not in dump
    assert "/v1/downloads/" not in dump
    assert "token=" not in dump
    assert "http://privacy.brand.test" not in dump
    for candidate in TOKEN_SHAPED.findall(dump):
        assert (await client.get("/v1/verify", params={"token": candidate})).status_code == 404
        assert (await client.get(f"/v1/downloads/{candidate}")).status_code == 404


def received(server: SmtpServer, to: str, subject: str) -> Any:
    [message] = [m for m in server.messages if m["To"] == to and subject in str(m["Subject"])]
    return message


async def test_a_confirmation_link_exists_only_in_the_email_as_sent(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    clock.freeze(T0)
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    await submit(client, keys["app"], type="deletion", email="ada@example.com")
    await app.state.worker.run_until_idle()  # refused: the email waits, sealed, for the next attempt

    [pending] = await emails_table(app)
    assert (pending["kind"], pending["status"], pending["to_address"]) == (
        "deletion_confirmation",
        "pending",
        "ada@example.com",
    )
    # What it is rendered from is kept until sent, but not readable; it is not rendered yet.
    assert pending["context"].startswith("fernet:")
    assert "verify" not in pending["context"]
    assert (pending["text_body"], pending["html_body"]) == (None, None)
    await assert_no_working_link(client, [pending])

    smtp_server.refuse_with = None
    clock.advance(timedelta(minutes=1))
    await app.state.worker.run_until_idle()

    message = received(smtp_server, "ada@example.com", "Confirm the deletion")
    token = VERIFY_LINK.search(text_of(message))
    assert token is not None
    assert token.group(1) not in str(pending)
    [sent] = await emails_table(app)
    assert sent["status"] == "sent"
    assert sent["sent_at"] is not None
    assert (sent["context"], sent["text_body"], sent["html_body"]) == (None, None, None)
    assert (sent["kind"], sent["to_address"], sent["message_id"], sent["subject"]) == (
        "deletion_confirmation",
        "ada@example.com",
        str(message["Message-ID"]),
        str(message["Subject"]),
    )
    await assert_no_working_link(client, [sent])

    # The link the customer received works.
    page = await client.get("/v1/verify", params={"token": token.group(1)})
    assert page.status_code == 200
    confirmed = await client.post("/v1/verify", json={"token": token.group(1)})
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "in_progress"


async def test_a_download_link_exists_only_in_the_email_as_sent(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = (await submit(client, keys["app"], type="access", email="ada@example.com"))["id"]
    await app.state.worker.run_until_idle()
    clock.freeze(T0)
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    accepted = await client.post(
        f"/v1/privacy-requests/{request_id}/accept",
        json={"handling": "automatic"},
        headers=bearer(keys["operator"]),
    )
    assert accepted.status_code == 200
    await app.state.worker.run_until_idle()  # the package is built; its email is refused for now

    rows = await emails_table(app)
    [waiting] = [row for row in rows if row["kind"] == "data_ready"]
    assert waiting["status"] == "pending"
    await assert_no_working_link(client, rows)

    smtp_server.refuse_with = None
    clock.advance(timedelta(minutes=1))
    await app.state.worker.run_until_idle()

    message = received(smtp_server, "ada@example.com", "ready to download")
    token = DOWNLOAD_LINK.search(text_of(message))
    assert token is not None
    rows = await emails_table(app)
    assert {row["status"] for row in rows} == {"sent"}
    assert all(
        row["context"] is None and row["text_body"] is None and row["html_body"] is None for row in rows
    )
    assert token.group(1) not in str(rows)
    await assert_no_working_link(client, rows)

    download = await client.get(f"/v1/downloads/{token.group(1)}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"


async def test_an_email_given_up_on_keeps_no_body(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    smtp_server.refuse_with = "550 5.1.1 Mailbox does not exist"
    await submit(client, keys["app"], type="deletion", email="ada@example.com")
    await app.state.worker.run_until_idle()

    # The confirmation, and the team's alert that it could not be delivered (refused too).
    rows = await emails_table(app)
    assert sorted((row["kind"], row["status"]) for row in rows) == [
        ("deletion_confirmation", "failed"),
        ("email_not_delivered", "failed"),
    ]
    [failed] = [row for row in rows if row["kind"] == "deletion_confirmation"]
    assert failed["to_address"] == "ada@example.com"
    for row in rows:
        assert row["message_id"]
        assert (row["context"], row["text_body"], row["html_body"]) == (None, None, None)
    assert smtp_server.received == []
