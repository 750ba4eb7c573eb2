"""The outbox: an email is rendered and stored with the change that causes it, and sent later by the worker."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.jobs import repository as jobs
from app.models import Email
from app.notifications.emails import render_email
from app.notifications.formatting import normalize_locale

SEND_EMAIL_JOB = "send_email"


def make_message_id(email_id: uuid.UUID, domain: str) -> str:
    """``<hex@domain>``: derived from the row's id, so every retry of one email carries the same Message-ID."""
    return f"<{email_id.hex}@{domain}>"


def domain_of(address: str) -> str:
    """The domain part of an address such as ``MAIL_FROM`` (``localhost`` when it has none)."""
    if "@" not in address:
        return "localhost"
    return address.rpartition("@")[2].strip(" >") or "localhost"


async def enqueue_email(
    session: AsyncSession,
    *,
    kind: str,
    to: str,
    locale: str,
    context: dict[str, Any],
    request_id: uuid.UUID | None,
    mail_from_domain: str,
) -> Email:
    """Render ``kind`` and add it, with its ``send_email`` job, to the caller's transaction (flushed, not committed).

    Rendering happens now, not at send time, so the email says what was true when the change was made.
    """
    rendered = render_email(kind, locale, context)
    email_id = uuid.uuid4()
    email = Email(
        id=email_id,
        message_id=make_message_id(email_id, mail_from_domain),
        kind=kind,
        to_address=to,
        locale=normalize_locale(locale),
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        request_id=request_id,
        status="pending",
        created_at=clock.now(),
        sent_at=None,
    )
    session.add(email)
    await jobs.enqueue(session, SEND_EMAIL_JOB, {"email_id": str(email.id)}, request_id=request_id)
    await session.flush()
    return email
