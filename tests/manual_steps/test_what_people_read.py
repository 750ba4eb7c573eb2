"""What people read about a system searched or erased by hand (contract sections 8 and 10): the customer is
never told "no data" when staff searched a system by hand, and reads its title in their language; the owner
reads only their request type's instructions, and only the identifiers the source is configured with."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.db import unit_of_work
from app.models import Email

from ..conftest import TEAM
from ..helpers import accept, detail, submit
from ..notifications.smtp_server import SmtpServer
from ..processing.world import status_of, work
from .conftest import OWNER
from .test_manual_steps import DATA_READY, DELETION_DONE, confirm_deletion, done, plain, tasks, to

ACCESS_TEXT = "Copy the customer's folder from the basement archive; leave the original in place."
DELETION_TEXT = "Take the customer's folder out of the basement archive and shred it."
# A system without an API, with a title for customers and its own instructions per type of request.
ARCHIVE_BY_TYPE = f"""  - name: paper_archive
    type: manual
    title: {{en: Our paper archive, de: Unser Papierarchiv}}
    owner_email: {OWNER}
    instructions:
      access: "{ACCESS_TEXT}"
      deletion: "{DELETION_TEXT}"
"""
# The same system, whose owner knows customers by their customer id only.
ARCHIVE_BY_ID = ARCHIVE_BY_TYPE + "    identifiers: [customer_id]\n"

NOBODY = "nobody@example.com"  # in no connected system
COPY_NOT_ERASE = (
    "This is an access request: copy, do not erase. The customer asked to see their data; nothing may be "
    "destroyed or changed."
)
SEND_TO_TEAM = (
    f"Send a copy of what you find to the privacy team at {TEAM}, who send it to the customer; do not send "
    "anything to the customer yourself."
)
KEEP_FOR_TEAM = (
    "Keep a copy of what you find for the privacy team, who send it to the customer, and say in your note "
    "where it is; do not send anything to the customer yourself."
)
ERASE_IN_ARCHIVE = "This is a deletion request: erase the customer's data in paper_archive."
NO_DATA_ERASED = "We found no personal data about you to erase."


@pytest.fixture
def extra_sources() -> str:
    return ARCHIVE_BY_TYPE


@pytest.fixture
def team_email() -> str | None:
    """PRIVACY_TEAM_EMAIL; a test parametrizes it to ``None`` to see the owner's email without it."""
    return TEAM


@pytest.fixture
def settings_overrides(settings_overrides: dict[str, Any], team_email: str | None) -> dict[str, Any]:
    return {**settings_overrides, "privacy_team_email": team_email}


def every_text(message: EmailMessage) -> str:
    """Everything a mail program can show of ``message``: its headers and every text part, decoded, with
    runs of white space made one space (so that a wrapped line still matches)."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return " ".join(" ".join(parts).split())


def owner_email(smtp_server: SmtpServer, request_id: str) -> EmailMessage:
    [message] = [m for m in to(smtp_server, OWNER) if request_id in str(m["Subject"])]
    return message


async def kinds_sent_to(app: FastAPI, request_id: str, address: str) -> list[str]:
    """The kinds of email the outbox holds for ``address`` about the request, oldest first."""
    async with unit_of_work(app.state.sessionmaker) as session:
        rows = await session.scalars(
            select(Email.kind)
            .where(Email.request_id == uuid.UUID(request_id), Email.to_address == address)
            .order_by(Email.created_at)
        )
        return list(rows.all())


async def finish_the_task(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], request_id: str
) -> None:
    [task] = await tasks(client, keys["operator"], request_id)
    marked = await done(client, keys["operator"], request_id, task["id"], note="Searched folder A-Z")
    assert marked.status_code == 200, marked.text
    await work(app)


@pytest.mark.parametrize(
    ("locale", "subject", "connected_none", "by_hand", "title", "apart", "no_data"),
    [
        (
            "en",
            "Your request for a copy of your personal data",
            "we searched the systems connected to this service for personal data about nobody@example.com and "
            "found none there, so there is no download for you.",
            "These systems of ours are not connected to this service, so our staff searched them by hand:",
            "- Our paper archive\n",
            "Anything found there is not in this email; our privacy team will send it to you separately.",
            ("We found no personal data about you", "and found none, so there is nothing for us to send you"),
        ),
        (
            "de",
            "Ihr Antrag auf Auskunft über Ihre personenbezogenen Daten",
            "Wir haben die an diesen Dienst angeschlossenen Systeme nach personenbezogenen Daten zu "
            "nobody@example.com durchsucht und dort keine gefunden.",
            "Diese Systeme sind nicht an diesen Dienst angeschlossen; unsere Mitarbeiterinnen und Mitarbeiter "
            "haben sie daher von Hand durchsucht:",
            "- Unser Papierarchiv\n",
            "Was dort gefunden wurde, ist nicht in dieser E-Mail enthalten; unser Datenschutzteam schickt es "
            "Ihnen gesondert zu.",
            ("Wir haben keine personenbezogenen Daten", "Wir haben Ihnen daher nichts", "Our paper archive"),
        ),
    ],
)
async def test_no_data_in_connected_systems_but_one_searched_by_hand_is_never_no_data(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    locale: str,
    subject: str,
    connected_none: str,
    by_hand: str,
    title: str,
    apart: str,
    no_data: tuple[str, ...],
) -> None:
    request = await submit(client, keys["app"], type="access", email=NOBODY, locale=locale)
    request_id = request["id"]
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)
    assert await status_of(app, request_id) == "in_progress"
    await finish_the_task(app, client, keys, request_id)

    assert await status_of(app, request_id) == "processed"
    # The customer is told which system was searched by hand, by its title in their language, and that what
    # was found there comes apart: not that nothing about them was found.
    assert (await kinds_sent_to(app, request_id, NOBODY))[-1] == "access_searched_by_hand"
    [answer] = to(smtp_server, NOBODY, subject)
    text = plain(answer)
    assert connected_none in " ".join(text.split())
    assert f"{by_hand}\n{title}" in text
    assert apart in " ".join(text.split())
    assert "paper_archive" not in every_text(answer)
    for said_no_data in no_data:
        assert said_no_data not in every_text(answer)
    assert "access_no_data" not in await kinds_sent_to(app, request_id, NOBODY)
    # The timeline says no package was built because the connected systems hold nothing, and names the
    # system searched by hand.
    view = await detail(client, keys["operator"], request_id)
    [processed] = [e["detail"] for e in view["events"] if e["action"] == "processed"]
    assert processed == (
        "no data about the person in the connected sources; no package was built; searched by hand: paper_archive"
    )


async def test_the_download_email_says_what_was_searched_by_hand_is_not_in_it(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    await finish_the_task(app, client, keys, request["id"])

    assert await status_of(app, request["id"]) == "processed"
    [ready] = to(smtp_server, "ada@example.com", DATA_READY)
    text = plain(ready)
    assert "/v1/downloads/" in text
    assert (
        "These systems of ours are not connected to this service, so our staff searched them by hand:\n"
        "- Our paper archive\n"
    ) in text
    assert (
        "Anything found there is not in this download; our privacy team will send it to you separately."
        in " ".join(text.split())
    )
    assert "paper_archive" not in every_text(ready)


async def test_a_manual_fulfil_with_a_link_also_lists_the_system_searched_by_hand(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    """Manual handling: the operator fulfils with a download link once the task is done; that email too says
    the archive's findings are not in the download."""
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    await finish_the_task(app, client, keys, request["id"])
    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": True},
        headers={"Authorization": f"Bearer {keys['operator']}"},
    )
    assert fulfilled.status_code == 200, fulfilled.text
    await work(app)
    [ready] = to(smtp_server, "ada@example.com", DATA_READY)
    assert "- Our paper archive\n" in plain(ready)


@pytest.mark.parametrize("email", ["ada@example.com", NOBODY])
async def test_the_deletion_email_lists_the_system_erased_by_hand(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer, email: str
) -> None:
    """Ada has data in the CRM too; nobody@example.com has data only (perhaps) in the paper archive: either
    way the customer reads that the archive was erased by hand, never that nothing was found to erase."""
    request_id = await confirm_deletion(client, keys, app, smtp_server, email)
    await work(app)
    await finish_the_task(app, client, keys, request_id)

    assert await status_of(app, request_id) == "processed"
    [completed] = to(smtp_server, email, DELETION_DONE)
    text = plain(completed)
    assert (
        "These systems of ours are not connected to this service; in them, our staff erased your data by "
        "hand:\n- Our paper archive\n"
    ) in text
    assert NO_DATA_ERASED not in every_text(completed)
    assert "paper_archive" not in every_text(completed)
    view = await detail(client, keys["operator"], request_id)
    assert view["result"]["manual"] == [
        {"source": "paper_archive", "title": {"en": "Our paper archive", "de": "Unser Papierarchiv"}}
    ]


async def test_the_owner_reads_only_the_access_instructions_for_an_access_request(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    message = owner_email(smtp_server, request["id"])
    text = " ".join(plain(message).split())
    assert f"What to do in paper_archive: {ACCESS_TEXT}" in text
    assert COPY_NOT_ERASE in text
    assert SEND_TO_TEAM in text
    for not_for_access in (DELETION_TEXT, "shred", "Deletion request", ERASE_IN_ARCHIVE, KEEP_FOR_TEAM):
        assert not_for_access not in every_text(message)


@pytest.mark.parametrize("team_email", [None])
async def test_without_a_privacy_team_address_the_owner_keeps_the_copy_for_the_team(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    message = owner_email(smtp_server, request["id"])
    text = " ".join(plain(message).split())
    assert COPY_NOT_ERASE in text
    assert KEEP_FOR_TEAM in text
    assert "Send a copy of what you find to the privacy team at" not in text
    assert TEAM not in every_text(message)


async def test_the_owner_reads_only_the_deletion_instructions_for_a_deletion(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    await work(app)

    message = owner_email(smtp_server, request_id)
    text = " ".join(plain(message).split())
    assert f"What to do in paper_archive: {DELETION_TEXT}" in text
    assert ERASE_IN_ARCHIVE in text
    for not_for_deletion in (
        ACCESS_TEXT,
        "copy, do not erase",
        "Access request",
        SEND_TO_TEAM,
        KEEP_FOR_TEAM,
    ):
        assert not_for_deletion not in every_text(message)


@pytest.mark.parametrize("extra_sources", [ARCHIVE_BY_ID])
@pytest.mark.parametrize("kind", ["access", "deletion"])
async def test_an_owner_who_knows_customers_by_id_is_not_told_their_email_or_name(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer, kind: str
) -> None:
    if kind == "access":
        request_id = (await submit(client, keys["app"], type="access", email="ada@example.com"))["id"]
        await accept(client, keys["operator"], request_id, "automatic")
    else:
        request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    await work(app)

    message = owner_email(smtp_server, request_id)
    assert "Customer id: cus_1" in plain(message)
    everything = every_text(message)
    for more_than_needed in ("ada@example.com", "Ada", "Lovelace", "Email address", "Name:"):
        assert more_than_needed not in everything


@pytest.mark.parametrize("extra_sources", [ARCHIVE_BY_ID])
async def test_a_customer_the_owner_cannot_find_gets_no_task_and_the_team_is_told(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    # The owner finds customers by their customer id only, and this address is in no directory: a task would
    # be one nobody can do, and, marked done, would tell the customer their data there was erased by hand.
    request_id = await confirm_deletion(client, keys, app, smtp_server, NOBODY)
    await work(app)

    assert await tasks(client, keys["operator"], request_id) == []
    assert to(smtp_server, OWNER) == []
    events = (await detail(client, keys["operator"], request_id))["events"]
    [skipped] = [event for event in events if event["action"] == "manual_step_not_opened"]
    assert skipped["detail"] == (
        "paper_archive: its owner finds customers by customer_id, and the request holds none of them"
    )
    [alert] = to(smtp_server, TEAM, "Manual step not opened")
    text = " ".join(plain(alert).split())
    assert (
        "paper_archive is not connected to this service, so its part of request "
        f"{request_id} is done by hand. Its owner finds customers by customer_id only, and the request holds "
        "none of these, so no task was opened and the owner was not emailed."
    ) in text
    assert NOBODY not in every_text(alert)
    # The erasure is not held up by a task nobody can do, and the customer reads nothing about the archive.
    assert await status_of(app, request_id) == "processed"
    [completed] = to(smtp_server, NOBODY, DELETION_DONE)
    for untrue in ("Our paper archive", "by hand"):
        assert untrue not in every_text(completed)


async def test_an_owners_task_email_that_bounces_is_on_the_timeline_and_the_team_is_told(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    smtp_server.refuse_for = {OWNER: "550 5.1.1 Mailbox does not exist"}
    request_id = (await submit(client, keys["app"], type="access", email="ada@example.com"))["id"]
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)

    # The request waits for a task its owner never heard of: the team must know, and the timeline says so.
    assert await status_of(app, request_id) == "in_progress"
    events = (await detail(client, keys["operator"], request_id))["events"]
    [failed] = [event for event in events if event["action"] == "email_failed"]
    assert failed["detail"].startswith("the manual_task email could not be delivered: ")
    assert "550 5.1.1 Mailbox does not exist" in failed["detail"]
    [alert] = to(smtp_server, TEAM, "Email not delivered")
    text = " ".join(plain(alert).split())
    assert (
        f"The manual_task email about request {request_id} to {OWNER}, the owner of a manual step, could not be "
        "delivered: "
    ) in text
    assert "550 5.1.1 Mailbox does not exist" in text
    assert to(smtp_server, OWNER) == []


@pytest.mark.parametrize("extra_sources", [ARCHIVE_BY_ID])
async def test_an_access_whose_manual_step_was_not_opened_claims_only_the_connected_systems(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    # The archive's owner cannot find this person (no customer id), so the archive was not searched: the
    # customer must not read that "our systems" were.
    request_id = (await submit(client, keys["app"], type="access", email=NOBODY))["id"]
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)

    assert await status_of(app, request_id) == "processed"
    [answer] = [m for m in to(smtp_server, NOBODY) if "Your request for a copy" in str(m["Subject"])]
    text = " ".join(plain(answer).split())
    assert (
        "we searched the systems connected to this service for personal data about nobody@example.com and "
        "found none there, so there is no download for you."
    ) in text
    assert "We searched our systems" not in text
    assert to(smtp_server, TEAM, "Manual step not opened")
