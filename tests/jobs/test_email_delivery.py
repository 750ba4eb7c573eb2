"""Every email through the API, the outbox and the worker to a real SMTP server (aiosmtpd on 127.0.0.1), parsed
with the ``email`` package; the links in them followed through the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock

from ..conftest import TEAM, bearer
from ..helpers import detail, submit, text_of
from ..notifications.smtp_server import SmtpServer, smtp_settings
from .support import emails, message_id_counts

BASE = "http://privacy.brand.test"
LINK = re.compile(re.escape(BASE) + r"/v1/[^\s\"<>]+")

SUBJECTS = {
    "en": {
        "access_acknowledged": "We have received your request for a copy of your data",
        "deletion_confirmation": "Confirm the deletion of your data",
        "deletion_completed": "Your deletion request has been carried out",
        "data_ready": "Your data is ready to download",
        "access_fulfilled": "Your request for a copy of your data is complete",
        "request_declined": "We cannot carry out your",
        "deadline_extended": "We need more time to answer your request",
        "confirmation_expired": "Your deletion request has expired",
    },
    "de": {
        "access_acknowledged": "Wir haben Ihren Antrag auf Auskunft erhalten",
        "deletion_confirmation": "Bitte bestätigen Sie die Löschung Ihrer Daten",
        "deletion_completed": "Ihr Löschantrag wurde ausgeführt",
        "data_ready": "Ihre Daten stehen zum Herunterladen bereit",
        "access_fulfilled": "Ihr Antrag auf Auskunft ist abgeschlossen",
        "request_declined": "Wir können Ihren Löschantrag nicht ausführen",
        "deadline_extended": "Wir benötigen mehr Zeit für die Antwort auf Ihren Antrag",
        "confirmation_expired": "Ihr Löschantrag ist abgelaufen",
    },
}


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {
        **smtp_settings(smtp_server.port),
        "mail_from": "privacy@brand.test",
        # Keeps the late access request pending, so the overdue alert lists it as the operator left it.
        "auto_handle_before_due": "",
        # The walk-through spans 31 days and then checks every outbox row: keep them past JOB_RETENTION.
        "job_retention": "P365D",
    }


def _links(message: EmailMessage) -> list[str]:
    return LINK.findall(text_of(message))


def _path(link: str) -> str:
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _received_for(server: SmtpServer, to: str) -> list[EmailMessage]:
    return [message for message in server.messages if message["To"] == to]


def _one(server: SmtpServer, to: str, subject_start: str) -> EmailMessage:
    found = [m for m in _received_for(server, to) if str(m["Subject"]).startswith(subject_start)]
    subjects = [str(m["Subject"]) for m in _received_for(server, to)]
    assert len(found) == 1, f"{to}: expected one {subject_start!r}, got {subjects}"
    return found[0]


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_every_email_kind_reaches_its_recipient_in_the_request_language(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    locale: str,
) -> None:
    worker = app.state.worker
    operator = bearer(keys["operator"])
    subjects = SUBJECTS[locale]
    clock.freeze(datetime(2030, 1, 10, 10, 0, tzinfo=UTC))

    ada = await submit(client, keys["app"], type="access", email="ada@example.com", locale=locale)
    grace = await submit(client, keys["app"], type="access", email="grace@example.com", locale=locale)
    zoe = await submit(client, keys["app"], type="access", email="zoe@example.com", locale=locale)
    pat = await submit(client, keys["app"], type="access", email="pat@example.com", locale=locale)
    alan = await submit(client, keys["app"], type="deletion", email="alan@example.com", locale=locale)
    eve = await submit(client, keys["app"], type="deletion", email="eve@example.com", locale=locale)
    bob = await submit(client, keys["app"], type="deletion", email="bob@example.com", locale=locale)
    await worker.run_until_idle()

    for person in ("ada", "grace", "zoe", "pat"):
        ack = _one(smtp_server, f"{person}@example.com", subjects["access_acknowledged"])
        assert "2030" in text_of(ack)  # states the due date

    # Deletion confirmation: the link opens the page, and the page's button confirms.
    confirmation = _one(smtp_server, "alan@example.com", subjects["deletion_confirmation"])
    [verify_link] = [link for link in _links(confirmation) if "/v1/verify?token=" in link]
    page = await client.get(_path(verify_link))
    assert page.status_code == 200, page.text
    token = verify_link.rpartition("token=")[2]
    assert (await client.post("/v1/verify", data={"token": token})).status_code == 200
    await worker.run_until_idle()
    completed = _one(smtp_server, "alan@example.com", subjects["deletion_completed"])
    assert "customers" in text_of(completed)
    assert (await detail(client, keys["operator"], alan["id"]))["status"] == "processed"

    # Automatic access: the data-ready email's link downloads the package.
    accepted = await client.post(
        f"/v1/privacy-requests/{ada['id']}/accept", json={"handling": "automatic"}, headers=operator
    )
    assert accepted.status_code == 200, accepted.text
    await worker.run_until_idle()
    ready = _one(smtp_server, "ada@example.com", subjects["data_ready"])
    [download_link] = [link for link in _links(ready) if "/v1/downloads/" in link]
    download = await client.get(_path(download_link))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"

    # Manual access fulfilled without a link; a dismissed deletion with notice; an extension.
    for path, body in (
        (f"/v1/privacy-requests/{grace['id']}/accept", {"handling": "manual"}),
        (f"/v1/privacy-requests/{grace['id']}/fulfil", {"send_download_link": False, "note": "by post"}),
        (f"/v1/privacy-requests/{zoe['id']}/extend", {"reason": "Many systems to search"}),
    ):
        response = await client.post(path, json=body, headers=operator)
        assert response.status_code == 200, response.text
    dismissed = await client.delete(
        f"/v1/privacy-requests/{bob['id']}",
        params={"reason": "We could not identify you", "notify": "true"},
        headers=operator,
    )
    assert dismissed.status_code == 200, dismissed.text
    await worker.run_until_idle()
    assert "by post" in text_of(_one(smtp_server, "grace@example.com", subjects["access_fulfilled"]))
    declined = _one(smtp_server, "bob@example.com", subjects["request_declined"])
    assert "We could not identify you" in text_of(declined)
    extended = _one(smtp_server, "zoe@example.com", subjects["deadline_extended"])
    assert "Many systems to search" in text_of(extended)

    # The unconfirmed deletion expires; its link then says so.
    clock.advance(timedelta(days=8))
    await worker.run_until_idle()
    _one(smtp_server, "eve@example.com", subjects["confirmation_expired"])
    [eve_link] = [
        link
        for link in _links(_one(smtp_server, "eve@example.com", subjects["deletion_confirmation"]))
        if "token=" in link
    ]
    assert (await client.get(_path(eve_link))).status_code == 410
    assert (await detail(client, keys["operator"], eve["id"]))["status"] == "expired"

    # The team: due soon, then overdue (always in English), each linking to the request.
    clock.advance(timedelta(days=16))  # pat is due in 6 days
    await worker.run_until_idle()
    due_soon = _one(smtp_server, TEAM, "1 privacy request due within 7 days")
    assert pat["id"] in text_of(due_soon)
    assert f"{BASE}/v1/privacy-requests/{pat['id']}" in _links(due_soon)
    clock.advance(timedelta(days=7))  # pat is overdue now
    await worker.run_until_idle()
    overdue = _one(smtp_server, TEAM, "1 privacy request overdue")
    [pat_link] = [link for link in _links(overdue) if pat["id"] in link]
    followed = await client.get(_path(pat_link), headers=operator)
    assert followed.status_code == 200
    assert followed.json()["overdue"] is True

    # Every message: from MAIL_FROM, text and HTML parts, in the request's language, delivered once.
    rows = await emails(app.state.sessionmaker)
    assert {row.status for row in rows} == {"sent"}
    counts = message_id_counts(smtp_server)
    assert sorted(counts) == sorted(row.message_id for row in rows)
    assert set(counts.values()) == {1}
    customer_kinds = {row.kind for row in rows if row.to_address != TEAM}
    assert customer_kinds == set(subjects)
    for message in smtp_server.messages:
        assert message["From"] == "privacy@brand.test"
        assert message.get_body(preferencelist=("plain",)) is not None
        assert message.get_body(preferencelist=("html",)) is not None
        expected_language = "en" if message["To"] == TEAM else locale
        assert message["Content-Language"] == expected_language
    for received in smtp_server.received:
        assert received.mail_from == "privacy@brand.test"
        assert len(received.rcpt_tos) == 1
    assert {str(m["To"]) for m in smtp_server.messages} == {
        "ada@example.com",
        "grace@example.com",
        "zoe@example.com",
        "pat@example.com",
        "alan@example.com",
        "eve@example.com",
        "bob@example.com",
        TEAM,
    }
