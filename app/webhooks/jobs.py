"""Deliver one webhook: read in a short transaction, POST signed, the attempt recorded either way.

A 2xx answer delivers it. Anything else (another status, a timeout, a refused connection) is recorded as an
attempt, in its own transaction so the job's rollback keeps it, and raised: the worker retries the job by the
webhooks' own policy (backoff from WEBHOOK_RETRY_BASE up to WEBHOOK_RETRY_MAX_DELAY, for WEBHOOK_RETRY_FOR; see
``app.wiring``) and, once that is spent, marks the delivery failed. Every attempt carries the same
``webhook-id``; a delivered delivery is never sent again.

Deliveries are not ordered (several run at once, and a retried one comes after later events): each body's
``timestamp`` is the time of the change and its ``data.status`` the request after it, which is what a receiver
orders by."""

from __future__ import annotations

import time
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.context import ServiceContext
from app.core.db import read_only, unit_of_work
from app.jobs.errors import PermanentError
from app.models import Job
from app.webhooks import repository, signing

# A receiver should answer at once and do its work later (Standard Webhooks): 10 s is plenty.
TIMEOUT = httpx.Timeout(10.0)


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx; the worker retries."""


def new_client() -> httpx.AsyncClient:
    # Redirects are not followed: a 3xx is not a delivery (the subscription's URL should be the final one).
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


async def run_delivery(
    session: AsyncSession,
    job: Job,
    *,
    ctx: ServiceContext,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
) -> None:
    """POST one pending delivery, signed; delivered on a 2xx, else the attempt is recorded and the job retried.
    A delivery no longer pending is not sent; one whose subscription was deleted is cancelled."""
    delivery_id = uuid.UUID(job.payload["delivery_id"])
    async with read_only(sessionmaker) as reader:
        target = await repository.delivery_target(reader, delivery_id)
    if target is None:
        return
    delivery, event, subscription = target
    if delivery.status != repository.PENDING:
        return  # delivered (or given up) already: never sent twice
    if subscription.deleted_at is not None:
        await repository.finish_delivery(session, delivery_id, status="cancelled")
        return
    try:
        secret = signing.unseal(subscription.secret, secret_key=ctx.secret_key)
    except signing.UnreadableSecret as unreadable:
        raise PermanentError(str(unreadable)) from None
    headers = signing.headers(secret, msg_id=signing.message_id(event.id), body=event.body)
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        # Streamed and closed unread: the receiver's body is not needed, however large it is.
        async with client.stream("POST", subscription.url, content=event.body, headers=headers) as response:
            status_code = response.status_code
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = int((time.monotonic() - started) * 1000)
    delivered = status_code is not None and 200 <= status_code < 300
    if not delivered and error is None:
        error = f"the receiver answered {status_code}"
    # Committed at once, apart from the job's own transaction: a success stays on record (and is never sent
    # again) even if finishing the job fails; a failure stays on record although the job rolls back.
    at = clock.now()
    async with unit_of_work(sessionmaker) as writer:
        repository.add_attempt(
            writer, delivery_id, at=at, status_code=status_code, error=error, duration_ms=duration_ms
        )
        if delivered:
            await repository.finish_delivery(writer, delivery_id, status="delivered", at=at)
    if not delivered:
        raise DeliveryFailed(error)


async def on_delivery_dead(session: AsyncSession, job: Job, error: str) -> None:
    """The worker gave up: the delivery is failed, with its attempts on record."""
    await repository.finish_delivery(session, uuid.UUID(job.payload["delivery_id"]), status="failed")
