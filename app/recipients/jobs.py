"""Deliver one recipient's webhook notice, signed per Standard Webhooks, and what happens when a notice is
given up on (the webhook's retries spent, or its email bounced for good): the timeline says so.

Like the webhooks (``app.webhooks.jobs``): a 2xx answer delivers it, committed at once so it is never sent
again; anything else is raised and the worker retries by the webhooks' policy with the same ``webhook-id``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.core.db import read_only, unit_of_work
from app.jobs.errors import PermanentError
from app.models import Job, RecipientNotice
from app.notifications.jobs import on_send_email_dead
from app.notifications.sealing import UnreadableBody, unseal
from app.recipients import repository
from app.recipients.service import alert_team
from app.webhooks import signing

DeadHook = Callable[[AsyncSession, Job, str], Awaitable[None]]


class NoticeNotDelivered(Exception):
    """The recipient's receiver did not answer 2xx; the worker retries."""


async def run_notice_delivery(
    session: AsyncSession,
    job: Job,
    *,
    ctx: ServiceContext,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> None:
    """POST one pending notice to its recipient's webhook (as SOURCES_FILE names it now), signed with the
    recipient's secret; delivered on a 2xx, else raised for a retry. A finished notice is not sent again."""
    notice_id = uuid.UUID(job.payload["notice_id"])
    async with read_only(sessionmaker) as reader:
        notice = await repository.get(reader, notice_id)
    if notice is None or notice.status != repository.PENDING or notice.body is None:
        return
    config = ctx.sources.config
    recipient = next((r for r in config.recipients if r.name == notice.recipient), None)
    if recipient is None or recipient.webhook is None:
        raise PermanentError(f"recipient {notice.recipient!r} has no webhook in SOURCES_FILE any more")
    try:
        body = unseal(notice.body, secret_key=ctx.secret_key)
    except UnreadableBody as unreadable:
        raise PermanentError(str(unreadable)) from None
    headers = signing.headers(
        config.recipient_secrets[recipient.name], msg_id=signing.message_id(notice.id), body=body
    )
    status_code: int | None = None
    try:
        # Streamed and closed unread: the receiver's answer is not needed.
        async with client.stream("POST", recipient.webhook, content=body, headers=headers) as response:
            status_code = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise NoticeNotDelivered(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    if not 200 <= status_code < 300:
        raise NoticeNotDelivered(f"the receiver answered {status_code}")
    # Committed at once, apart from the job's transaction: delivered stays delivered even if finishing the
    # job fails, so it is never sent again.
    async with unit_of_work(sessionmaker) as writer:
        await repository.finish(writer, notice_id, status=repository.DELIVERED, at=clock.now())


async def on_notice_dead(session: AsyncSession, job: Job, error: str, *, ctx: ServiceContext) -> None:
    """The worker gave up on a webhook notice: it is failed, the timeline says who was not told, and the
    privacy team is alerted."""
    notice = await repository.get(session, uuid.UUID(job.payload["notice_id"]))
    if notice is not None:
        await _failed(session, ctx, notice, error)


async def on_email_dead(
    session: AsyncSession, job: Job, error: str, *, otherwise: DeadHook, ctx: ServiceContext
) -> None:
    """An email given up on: a recipient's notice is failed, goes on the timeline and alerts the privacy team;
    any other email is ``otherwise``'s (the requests domain tells the team a customer was not
    reached)."""
    notice = await repository.by_email(session, uuid.UUID(job.payload["email_id"]))
    if notice is None:
        await otherwise(session, job, error)
        return
    await on_send_email_dead(session, job, error)
    await _failed(session, ctx, notice, error)


async def _failed(session: AsyncSession, ctx: ServiceContext, notice: RecipientNotice, error: str) -> None:
    if not await repository.finish(session, notice.id, status=repository.FAILED):
        return
    timeline.record(
        session,
        request_id=notice.request_id,
        action="recipient_notice_failed",
        actor=SYSTEM,
        detail=f"{notice.recipient} could not be told by {notice.channel}; tell them another way",
        # The receiver's or the mail server's answer may quote an address: free text, cleared in time.
        text=error,
    )
    await alert_team(
        session,
        ctx,
        request_id=notice.request_id,
        recipient=notice.recipient,
        problem=f"the {notice.channel} notice could not be delivered ({error})",
    )
