"""All SQL about the outbox's emails."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import delete_oldest
from app.models import Email
from app.models.email import FINISHED_EMAILS_SQL


async def add(session: AsyncSession, email: Email) -> Email:
    session.add(email)
    return email


async def get(session: AsyncSession, email_id: uuid.UUID) -> Email | None:
    return await session.get(Email, email_id)


async def get_many(session: AsyncSession, email_ids: list[uuid.UUID]) -> list[Email]:
    """The emails of ``email_ids`` that exist, in one statement."""
    return list((await session.scalars(select(Email).where(Email.id.in_(email_ids)))).all())


_EMAILS = cast(Table, Email.__table__)
# Built once (with bound parameters): it runs for every email sent, and building it cost more than running it.
_MARK_SENT = (
    update(_EMAILS)
    .where(_EMAILS.c.id == bindparam("email_id"), _EMAILS.c.status == "pending")
    .values(status="sent", sent_at=bindparam("sent_at"), context=None, text_body=None, html_body=None)
)


async def mark_all_sent(session: AsyncSession, sent: list[tuple[uuid.UUID, datetime]]) -> None:
    """Pending emails were delivered, each ``(email id, sent at)`` of ``sent``: they keep their kind, recipient,
    Message-ID, subject and times, not their context or bodies. One round trip for the lot (executemany of a
    Core UPDATE: no session object holds the rows, so the ORM's bulk-update path would only cost time). An email no longer
    pending (sent meanwhile by another worker) is left as it is."""
    await session.execute(_MARK_SENT, [{"email_id": email_id, "sent_at": at} for email_id, at in sent])


async def mark_failed(session: AsyncSession, email_id: uuid.UUID) -> bool:
    """A pending email was given up on: as after sending, its context and bodies go."""
    result = await session.execute(
        update(Email)
        .where(Email.id == email_id, Email.status == "pending")
        .values(status="failed", context=None, text_body=None, html_body=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_finished_before(session: AsyncSession, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` sent or failed emails written before ``before``; how many went."""
    return await delete_oldest(
        session, Email.id, Email.created_at, before=before, limit=limit, where=text(FINISHED_EMAILS_SQL)
    )
