"""The deadline sweep (contract section 4), run by the worker: expiry, automatic handling, alerts, purges."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.audit import timeline
from app.audit.timeline import SYSTEM
from app.context import ServiceContext
from app.deadlines.due_dates import days_left
from app.durations import format_duration
from app.errors import InvalidTransition
from app.models import OPEN_STATUSES, DeadlineAlert, Download, PrivacyRequest
from app.requests import actions
from app.requests.lifecycle import Action
from app.requests.notify import email_customer, email_team

log = logging.getLogger("app.deadlines")

_BATCH = 200
_SWEEP_LOCK = 724_311  # an arbitrary constant: one sweeper at a time across all workers


async def sweep(session: AsyncSession, ctx: ServiceContext) -> None:
    """One pass; on PostgreSQL only one worker sweeps at a time (transaction-scoped advisory lock)."""
    if session.get_bind().dialect.name == "postgresql":
        locked = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_SWEEP_LOCK})"))
        if not locked:
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


async def _alerted(session: AsyncSession, ids: list[object]) -> set[tuple[object, str]]:
    if not ids:
        return set()
    rows = await session.execute(
        select(DeadlineAlert.request_id, DeadlineAlert.kind).where(DeadlineAlert.request_id.in_(ids))
    )
    return {(r.request_id, r.kind) for r in rows}


async def alert_due_soon(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """Each threshold alerts once per request; a request first seen inside a tighter threshold is listed
    only under that one (and marked for the wider ones, so it is not listed again later)."""
    thresholds = sorted(ctx.settings.deadline_warnings)  # tightest first
    if not thresholds:
        return
    query = (
        select(PrivacyRequest)
        .where(
            PrivacyRequest.status.in_(OPEN_STATUSES),
            PrivacyRequest.due_at > now,
            PrivacyRequest.due_at <= now + thresholds[-1],
        )
        .order_by(PrivacyRequest.due_at)
        .limit(1000)
    )
    candidates = list((await session.scalars(query)).all())
    seen = await _alerted(session, [r.id for r in candidates])
    batches: dict[timedelta, list[PrivacyRequest]] = {}
    for request in candidates:
        tightest = next(t for t in thresholds if request.due_at <= now + t)
        kind = f"due_soon:{format_duration(tightest)}"
        if (request.id, kind) in seen:
            continue
        batches.setdefault(tightest, []).append(request)
        for threshold in thresholds:
            if threshold >= tightest and (request.id, f"due_soon:{format_duration(threshold)}") not in seen:
                session.add(
                    DeadlineAlert(
                        request_id=request.id, kind=f"due_soon:{format_duration(threshold)}", at=now
                    )
                )
    for threshold, requests in sorted(batches.items()):
        await email_team(
            session, ctx, "due_soon", threshold=threshold, requests=[_item(r, now) for r in requests]
        )
        for request in requests:
            timeline.record(
                session,
                request_id=request.id,
                action="due_soon_alert",
                actor=SYSTEM,
                detail=f"due within {format_duration(threshold)}",
            )


async def alert_overdue(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at <= now)
        .order_by(PrivacyRequest.due_at)
        .limit(1000)
    )
    candidates = list((await session.scalars(query)).all())
    seen = await _alerted(session, [r.id for r in candidates])
    fresh = [r for r in candidates if (r.id, "overdue") not in seen]
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
