"""Emails are rendered by the worker as it sends them, from the context stored with them when queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core import clock
from app.notifications import stored_context
from app.notifications.sealing import seal

from ..conftest import SECRET, TEAM
from ..helpers import emails_table, submit, text_of
from .smtp_server import SmtpServer, smtp_settings

T0 = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return smtp_settings(smtp_server.port)


async def test_an_email_queued_while_smtp_was_down_is_rendered_when_sent_with_its_requests_dates(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    clock.freeze(T0)
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    await submit(client, keys["app"], type="access", email="ada@example.com")
    await app.state.worker.run_until_idle()
    [pending] = await emails_table(app)
    assert (pending["kind"], pending["status"]) == ("access_acknowledged", "pending")

    # Sent two days later: the dates are those of the request as it was received, not of the sending.
    smtp_server.refuse_with = None
    clock.advance(timedelta(days=2))
    await app.state.worker.run_until_idle()
    [message] = smtp_server.messages
    body = text_of(message)
    assert message["To"] == "ada@example.com"
    assert "3 April 2030" in body  # due 30 days after receipt on 4 March
    assert "4 March 2030" in body
    [sent] = await emails_table(app)
    assert (sent["status"], sent["context"]) == ("sent", None)


SECRET_LINK = "http://privacy.brand.test/v1/verify?token=" + "S" * 43


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        # As after an upgrade whose template needs a key this email was not queued with.
        (
            {"base_url": "http://privacy.brand.test", "verify_url": SECRET_LINK},
            "needs context keys: request, expires_at",
        ),
        # A request's facts without one the rendering reads.
        (
            {
                "base_url": "http://privacy.brand.test",
                "verify_url": SECRET_LINK,
                "expires_at": T0,
                "request": {"id": "r1", "type": "deletion", "received_at": T0},
            },
            "KeyError",
        ),
        # A stored time that does not read as one, whose error would quote it: the link.
        (
            '{"base_url":"http://privacy.brand.test","expires_at":{"$datetime":"' + SECRET_LINK + '"}}',
            "ValueError",
        ),
    ],
    ids=["missing-key", "missing-fact", "unreadable-value"],
)
async def test_a_stored_context_that_no_longer_renders_is_given_up_on_at_once_and_the_team_told(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    broken: dict[str, Any] | str,
    named: str,
) -> None:
    clock.freeze(T0)
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    request_id = (await submit(client, keys["app"], type="deletion", email="ada@example.com"))["id"]
    await app.state.worker.run_until_idle()
    async with app.state.sessionmaker() as session:
        await session.execute(
            text("UPDATE emails SET context = :context"),
            {
                "context": seal(
                    broken if isinstance(broken, str) else stored_context.dumps(broken), secret_key=SECRET
                )
            },
        )
        await session.commit()

    smtp_server.refuse_with = None
    clock.advance(timedelta(minutes=1))
    await app.state.worker.run_until_idle()
    rows = await emails_table(app)
    assert sorted((row["kind"], row["status"], row["to_address"]) for row in rows) == [
        ("deletion_confirmation", "failed", "ada@example.com"),
        ("email_not_delivered", "sent", TEAM),
    ]
    assert all(row["context"] is None for row in rows)
    [alert] = smtp_server.messages  # nothing reached the customer
    assert alert["To"] == TEAM
    assert named in " ".join(text_of(alert).split())
    async with app.state.sessionmaker() as session:
        attempts, last_error = (
            await session.execute(
                text("SELECT attempts, last_error FROM jobs WHERE kind = 'send_email' ORDER BY id LIMIT 1")
            )
        ).one()
        events = (
            await session.execute(
                text("SELECT * FROM request_events WHERE request_id = :id"), {"id": request_id}
            )
        ).all()
    assert attempts == 2  # refused once by SMTP, then given up on at its first rendering
    # The error is kept and shown, the link in the context is not.
    assert named in last_error
    for kept in (last_error, str(events), text_of(alert)):
        assert "S" * 43 not in kept
