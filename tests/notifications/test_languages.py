"""Every email kind, in English and German, through the outbox, the send job and a real SMTP server: what the
customer's mail program shows is in their language, from the brand, with dates in TIMEZONE."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parseaddr
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.context import ServiceContext
from app.core.db import unit_of_work
from app.models import Job
from app.notifications import KINDS, TEAM_KINDS
from app.notifications.jobs import run_send_email
from app.notifications.outbox import enqueue_email
from app.notifications.transport import SmtpTransport
from app.packages import PackageStore
from app.sources import DataSources

from ..conftest import SECRET
from ..english import english_words_in
from .factories import (
    BRAND_SETTINGS,
    CUSTOMER_NAME,
    ERROR,
    INSTRUCTIONS,
    NOTE,
    OPERATOR_NAME,
    REASON,
    REFUSAL,
    TIMEZONE,
    make_context,
    make_request,
)
from .smtp_server import SmtpServer

MAIL_FROM = "privacy@nordlicht.example"
CUSTOMER = "ada@example.com"
# Strings that are not the service's prose: the brand's own names and addresses, and texts an operator or a
# source wrote (quoted as given, in whatever language they were written).
NOT_PROSE = [
    *BRAND_SETTINGS.values(),
    NOTE,
    REASON,
    REFUSAL,
    ERROR,
    CUSTOMER,
    INSTRUCTIONS,
    CUSTOMER_NAME,
    OPERATOR_NAME,  # the operator a sign-in link is for
    "paper_archive",
    "cus_0001",
    # A recipient's name and the customer number it knows them by (GDPR Art. 19).
    "Postfalke GmbH",
    "Lagerhaus Nord",
    "cus_1",
]
# Words that would betray German left in an English email.
GERMAN_WORDS = {"ihre", "ihren", "wir", "und", "sie", "daten", "nicht", "antrag", "bitte", "gelöscht", "für"}


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {**BRAND_SETTINGS, "timezone": TIMEZONE, "mail_from": MAIL_FROM}


async def deliver(
    kind: str,
    locale: str,
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    smtp_server: SmtpServer,
) -> EmailMessage:
    """Enqueue ``kind`` as the service does, run its send job against the test SMTP server, return what arrived."""
    request = make_request(type="deletion" if "deletion" in kind else "access", locale=locale)
    async with unit_of_work(sessionmaker) as session:
        await enqueue_email(
            session,
            kind=kind,
            to=CUSTOMER,
            locale=locale,
            context=make_context(request=request, requests=[request]),
            request_id=None,
            mail_from_domain="nordlicht.example",
            secret_key=SECRET,
            settings=settings,
        )
    ctx = ServiceContext(
        settings=settings,
        secret_key=SECRET,
        sources=DataSources.from_file(settings.sources_file, secret_key=SECRET),
        packages=PackageStore(settings=settings, secret_key=SECRET),
    )
    transport = SmtpTransport(host=smtp_server.host, port=smtp_server.port, security="none")
    async with unit_of_work(sessionmaker) as session:
        job = (await session.scalars(select(Job))).one()
    # As the worker runs it: the job's own session has done nothing yet when the handler reads the email.
    async with unit_of_work(sessionmaker) as session:
        await run_send_email(session, job, ctx=ctx, sessionmaker=sessionmaker, transport=transport)
    await transport.aclose()
    [message] = smtp_server.messages
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    # Lines travel with CRLF; read them as a mail program shows them.
    return str(text.get_content()).replace("\r\n", "\n"), str(html.get_content()).replace("\r\n", "\n")


def prose(body: str) -> str:
    """``body`` without the strings that are not the service's own words (HTML entities decoded first)."""
    body = unescape(body)
    for value in sorted(NOT_PROSE, key=len, reverse=True):
        body = body.replace(value, " ")
    return body


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_every_kind_arrives_in_the_customers_language_from_the_brand(
    kind: str,
    locale: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    smtp_server: SmtpServer,
) -> None:
    message = await deliver(
        kind, locale, settings=settings, sessionmaker=sessionmaker, smtp_server=smtp_server
    )
    assert parseaddr(str(message["From"])) == (BRAND_SETTINGS["brand_name"], MAIL_FROM)
    assert smtp_server.received[0].mail_from == MAIL_FROM
    assert message["Content-Language"] == locale
    text, html = parts(message)
    subject = str(message["Subject"])
    for field in ("brand_name", "brand_url", "privacy_policy_url", "controller_address", "dpo_email"):
        assert BRAND_SETTINGS[field] in text, field
        assert BRAND_SETTINGS[field] in html, field
    for body in (subject, text, html):
        words = english_words_in(prose(body))
        if locale == "de":
            assert words == [], f"English in the German {kind}: {words} in {prose(body)!r}"
        else:
            german = {word.lower() for word in re.findall(r"\w+", prose(body))} & GERMAN_WORDS
            assert german == set(), f"German in the English {kind}: {german}"
    if locale == "en":
        assert english_words_in(prose(text)), "an English email with no English words"
    if kind not in TEAM_KINDS:
        closing = "Mit freundlichen Grüßen" if locale == "de" else "Kind regards,"
        assert f"{closing}\n{BRAND_SETTINGS['brand_name']}\n" in text


async def test_dates_arrive_in_timezone(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], smtp_server: SmtpServer
) -> None:
    message = await deliver(
        "data_ready", "de", settings=settings, sessionmaker=sessionmaker, smtp_server=smtp_server
    )
    text, html = parts(message)
    # EXPIRES_AT is 14:05 UTC: 15:05 in Hamburg in December.
    assert "Der Link ist bis zum 7. Dezember 2026, 15:05 MEZ gültig" in text
    assert "7. Dezember 2026, 15:05 MEZ" in html
    assert "14:05" not in text
