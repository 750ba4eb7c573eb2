"""The sweep, run by the worker: the deadline steps (contract section 4: expiry, automatic handling, alerts,
purges), then the retention steps (section 7: redact old closed requests, prune finished jobs, emails and
idempotency keys)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import timeline
from app.audit.timeline import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.core.db import unit_of_work
from app.core.durations import format_duration
from app.core.errors import InvalidTransition
from app.deadlines.due_dates import days_left
from app.jobs import repository as jobs
from app.models import OPEN_STATUSES, DeadlineAlert, Download, PrivacyRequest
from app.notifications import outbox
from app.requests import actions, redaction
from app.requests import repository as requests
from app.requests.lifecycle import Action
from app.requests.notify import email_customer, email_team

log = logging.getLogger("app.deadlines")

_BATCH = 200
_ALERT_BATCH = 500  # requests listed in one alert email; the next sweep lists the rest
_PRUNE_BATCH = 1000  # rows deleted per table and sweep; the sweep runs every poll interval
_SWEEP_LOCK = 724_311  # an arbitrary constant: one sweeper at a time across all workers

Step = Callable[[AsyncSession, ServiceContext], Awaitable[None]]


async def run_sweep(sessionmaker: async_sessionmaker[AsyncSession], ctx: ServiceContext) -> None:
    """Every step, each in its own transaction: one that fails (a damaged package directory, a bad row) is
    logged and rolled back, and the others still run. A database that cannot be reached ends the pass."""
    for step in STEPS:
        try:
            async with unit_of_work(sessionmaker) as session:
                await step(session, ctx)
        except (OperationalError, InterfaceError, ConnectionError, TimeoutError):
            raise  # the database is unreachable: the worker logs one line and tries again next poll
        except Exception:
            log.exception("sweep step %s failed; the other steps still run", step.__name__)


async def _exclusive(session: AsyncSession) -> bool:
    """On PostgreSQL, one sweeper at a time: a transaction-scoped advisory lock, or False when another holds it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_SWEEP_LOCK})")))


async def sweep(session: AsyncSession, ctx: ServiceContext) -> None:
    """The deadline steps in one pass; on PostgreSQL only one worker sweeps at a time."""
    if not await _exclusive(session):
        return
    now = clock.now()
    await expire_unconfirmed(session, ctx, now)
    await auto_handle(session, ctx, now)
    await alert_due_soon(session, ctx, now)
    await alert_overdue(session, ctx, now)
    await purge_downloads(session, now)


async def expire_unconfirmed(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.status == "unverified", PrivacyRequest.verification_expires_at <= now)
        .limit(_BATCH)
    )
    for request in (await session.scalars(query)).all():
        try:
            expired = await actions.apply(session, request, Action.EXPIRE)
        except InvalidTransition:
            continue
        timeline.record(
            session, request_id=expired.id, action="expired", actor=SYSTEM, detail="confirmation link expired"
        )
        await email_customer(session, ctx, expired, "confirmation_expired")


async def auto_handle(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    window = ctx.settings.auto_handle_before_due
    if window is None:
        return
    query = (
        select(PrivacyRequest.id)
        .where(
            PrivacyRequest.status == "pending",
            PrivacyRequest.type == "access",
            PrivacyRequest.due_at <= now + window,
        )
        .limit(_BATCH)
    )
    for request_id in (await session.scalars(query)).all():
        with contextlib.suppress(InvalidTransition):
            await actions.accept(session, ctx, request_id=request_id, handling="automatic", actor=SYSTEM)


def _item(request: PrivacyRequest, now: datetime) -> dict[str, object]:
    return {
        "id": str(request.id),
        "type": request.type,
        "status": request.status,
        "due_at": request.due_at,
        "days_left": days_left(request.due_at, now),
        "email": request.email,
    }


async def _not_yet_alerted(session: AsyncSession, kind: str, *conditions: Any) -> list[PrivacyRequest]:
    """Open requests matching ``conditions`` with no ``kind`` alert yet, soonest due first.

    The "not yet" is in SQL, so requests alerted long ago never crowd out new ones however many there are.
    """
    alerted = select(DeadlineAlert.request_id).where(
        DeadlineAlert.request_id == PrivacyRequest.id, DeadlineAlert.kind == kind
    )
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.status.in_(OPEN_STATUSES), *conditions, ~alerted.exists())
        .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        .limit(_ALERT_BATCH)
    )
    return list((await session.scalars(query)).all())


def _due_soon_kind(threshold: timedelta) -> str:
    return f"due_soon:{format_duration(threshold)}"


async def alert_due_soon(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """Each threshold alerts once per request; a request first seen inside a tighter threshold is listed
    only under that one (and marked for the wider ones, so it is not listed again later)."""
    thresholds = sorted(ctx.settings.deadline_warnings)  # tightest first
    for position, threshold in enumerate(thresholds):
        fresh = await _not_yet_alerted(
            session,
            _due_soon_kind(threshold),
            PrivacyRequest.due_at > now,
            PrivacyRequest.due_at <= now + threshold,
        )
        if not fresh:
            continue
        wider = [_due_soon_kind(t) for t in thresholds[position + 1 :]]
        # A request first seen here may already carry a wider mark (it was listed there earlier).
        rows = await session.execute(
            select(DeadlineAlert.request_id, DeadlineAlert.kind).where(
                DeadlineAlert.request_id.in_([r.id for r in fresh]), DeadlineAlert.kind.in_(wider)
            )
        )
        already = {(row.request_id, row.kind) for row in rows}
        for request in fresh:
            for kind in [_due_soon_kind(threshold), *wider]:
                if (request.id, kind) not in already:
                    session.add(DeadlineAlert(request_id=request.id, kind=kind, at=now))
            timeline.record(
                session,
                request_id=request.id,
                action="due_soon_alert",
                actor=SYSTEM,
                detail=f"due within {format_duration(threshold)}",
            )
        # The wider thresholds' queries must see these marks.
        await session.flush()
        await email_team(
            session, ctx, "due_soon", threshold=threshold, requests=[_item(r, now) for r in fresh]
        )


async def alert_overdue(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    fresh = await _not_yet_alerted(session, "overdue", PrivacyRequest.due_at <= now)
    if not fresh:
        return
    for request in fresh:
        session.add(DeadlineAlert(request_id=request.id, kind="overdue", at=now))
        timeline.record(session, request_id=request.id, action="overdue_alert", actor=SYSTEM)
    await email_team(session, ctx, "overdue", requests=[_item(r, now) for r in fresh])


async def purge_downloads(session: AsyncSession, now: datetime) -> None:
    query = select(Download).where(Download.expires_at <= now, Download.purged_at.is_(None)).limit(_BATCH)
    for download in (await session.scalars(query)).all():
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(Path(download.path).unlink)
        await session.execute(update(Download).where(Download.id == download.id).values(purged_at=now))
        timeline.record(
            session,
            request_id=download.request_id,
            action="package_purged",
            actor=SYSTEM,
            detail="download link expired",
        )


async def redact_closed_requests(session: AsyncSession, ctx: ServiceContext) -> None:
    """RECORDS_RETENTION after a request closed, its personal fields are masked and hashed."""
    if not await _exclusive(session):
        return
    now = clock.now()
    count = await redaction.redact_closed(
        session,
        secret_key=ctx.secret_key,
        closed_before=now - ctx.settings.records_retention,
        now=now,
        limit=_BATCH,
    )
    if count:
        log.info("redacted %s closed requests past RECORDS_RETENTION", count)


async def prune_jobs(session: AsyncSession, ctx: ServiceContext) -> None:
    """Done and dead jobs go JOB_RETENTION after they finished."""
    if await _exclusive(session):
        await jobs.delete_finished_before(
            session, clock.now() - ctx.settings.job_retention, limit=_PRUNE_BATCH
        )


async def prune_emails(session: AsyncSession, ctx: ServiceContext) -> None:
    """Sent and failed emails go JOB_RETENTION after they were written."""
    if await _exclusive(session):
        await outbox.delete_finished_before(
            session, clock.now() - ctx.settings.job_retention, limit=_PRUNE_BATCH
        )


async def prune_idempotency_keys(session: AsyncSession, ctx: ServiceContext) -> None:
    """Idempotency keys (each holds the first answer, with its email) go JOB_RETENTION after they were used."""
    if await _exclusive(session):
        await requests.delete_idempotency_keys_before(
            session, clock.now() - ctx.settings.job_retention, limit=_PRUNE_BATCH
        )


STEPS: tuple[Step, ...] = (sweep, redact_closed_requests, prune_jobs, prune_emails, prune_idempotency_keys)
