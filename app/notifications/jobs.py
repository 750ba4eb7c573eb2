"""Deliver one outbox email. Read with the other emails of the worker's round in one statement after the claim
(``prefetch_emails``; else alone), outside any transaction, rendered, sent, then marked sent (its context
cleared), also outside any transaction: with the other emails the worker sends meanwhile, in one statement, or at
once when it sends nothing else; its sealed context is opened only in memory."""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.context import ServiceContext
from app.core.db import read_only
from app.core.observability import EMAILS_SENT
from app.jobs import repository as jobs
from app.jobs.errors import PermanentError
from app.models import Email, Job
from app.notifications import outbox, repository
from app.notifications.sealing import UnreadableBody
from app.notifications.transport import Transport, TransportError, build_message


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
    try:
        opened = await _pending(session, sessionmaker, email_id, ctx=ctx)
        if opened is None:
            return
        message = build_message(
            opened, mail_from=ctx.settings.mail_from, display_name=ctx.settings.brand_name
        )
        await transport.send(message)
    except UnreadableBody as error:
        raise PermanentError(str(error)) from None
    except TransportError as error:
        if error.permanent:
            # The server refused this message for good (5xx): retrying cannot help.
            raise PermanentError(str(error)) from None
        raise
    # Marked sent (its bodies cleared) by the worker: with the others it sends meanwhile, or at once.
    jobs.finish_later(session, repository.mark_all_sent, (email_id, clock.now()))
    EMAILS_SENT.labels(opened.kind).inc()


async def _pending(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    email_id: uuid.UUID,
    *,
    ctx: ServiceContext,
) -> Email | None:
    """The email with its bodies rendered (or opened); None once it is no longer pending. An email that the
    job queuing it hands over (it is sent as that job commits) is used as that job rendered it, not read back."""
    handed = outbox.handed_over(session, email_id)
    if handed is not None:
        return handed
    email = jobs.prefetched(session, Email, email_id)  # read with the other emails of this worker's round
    if email is None:
        async with read_only(sessionmaker) as reader:
            email = await repository.get(reader, email_id)
    if email is None or email.status != "pending":
        return None
    return outbox.readable(email, secret_key=ctx.secret_key, settings=ctx.settings)


async def prefetch_emails(session: AsyncSession, claimed: list[Job]) -> dict[Any, Any]:
    """The emails of claimed ``send_email`` jobs, in one statement: {job id: its email}. Read after the claim:
    while the job's lease is held, no other worker sends or changes its email."""
    return await jobs.read_ahead(claimed, "email_id", functools.partial(repository.get_many, session))


async def on_send_email_dead(session: AsyncSession, job: Job, error: str) -> None:
    """The worker gave up on an email: it is marked failed and its bodies go, as after sending."""
    await repository.mark_failed(session, uuid.UUID(job.payload["email_id"]))
