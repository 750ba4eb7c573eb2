"""Deliver one outbox email. Read and marked in short transactions, sent in between."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import clock
from app.context import ServiceContext
from app.db import unit_of_work
from app.jobs.worker import PermanentError
from app.models import Email, Job
from app.notifications.transport import Transport, TransportError, build_message
from app.observability import EMAILS_SENT


async def run_send_email(
    session: AsyncSession,
    job: Job,
    *,
    ctx: ServiceContext,
    sessionmaker: async_sessionmaker[AsyncSession],
    transport: Transport,
) -> None:
    """Send the email unless it is already sent; a transport error propagates so the worker retries.

    The Message-ID is the row's, so a retry after a send whose acknowledgement was lost carries the same
    id and the receiving side can drop the repeat.
    """
    email_id = uuid.UUID(job.payload["email_id"])
    async with unit_of_work(sessionmaker) as reader:
        email = await reader.get(Email, email_id)
    if email is None or email.status != "pending":
        return
    try:
        await transport.send(build_message(email, mail_from=ctx.settings.mail_from))
    except TransportError as error:
        if error.permanent:
            # The server refused this message for good (5xx): retrying cannot help.
            raise PermanentError(str(error)) from None
        raise
    await session.execute(
        update(Email)
        .where(Email.id == email_id, Email.status == "pending")
        .values(status="sent", sent_at=clock.now())
    )
    EMAILS_SENT.labels(email.kind).inc()
