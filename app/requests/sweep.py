"""The requests' sweep steps (contract sections 4 and 7): expire unconfirmed deletions, handle access requests
about to miss their deadline, alert the privacy team, redact closed requests and prune idempotency keys."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core.context import ServiceContext
from app.core.durations import to_iso8601
from app.core.errors import InvalidTransition
from app.core.lifecycle import Action
from app.deadlines.due_dates import days_left
from app.manual import repository as manual
from app.models import ManualTask, PrivacyRequest
from app.notifications.outbox import email_team
from app.requests import actions, redaction, repository
from app.requests.notify import email_customer

log = logging.getLogger("app.requests.sweep")

BATCH = 200
ALERT_BATCH = 500  # requests listed in one alert email; the next sweep lists the rest
PRUNE_BATCH = 1000  # rows deleted per sweep; the sweep runs every poll interval


async def expire_unconfirmed(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """An unconfirmed deletion whose link is older than VERIFICATION_TTL expires; the customer is told."""
    for request in await repository.unverified_expired(session, now=now, limit=BATCH):
        try:
            expired = await actions.transition(session, request, Action.EXPIRE)
        except InvalidTransition:
            continue
        timeline.record(
            session, request_id=expired.id, action="expired", actor=SYSTEM, detail="confirmation link expired"
        )
        await email_customer(session, ctx, expired, "confirmation_expired")


async def auto_handle(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """A pending access request within AUTO_HANDLE_BEFORE_DUE of its due date is accepted automatically."""
    window = ctx.settings.auto_handle_before_due
    if window is None:
        return
    for request_id in await repository.pending_access_due_by(session, until=now + window, limit=BATCH):
        with contextlib.suppress(InvalidTransition):
            await actions.accept(session, ctx, request_id=request_id, handling="automatic", actor=SYSTEM)


def _item(request: PrivacyRequest, now: datetime, open_tasks: list[ManualTask]) -> dict[str, object]:
    return {
        "id": str(request.id),
        "type": request.type,
        "status": request.status,
        "due_at": request.due_at,
        "days_left": days_left(request.due_at, now),
        "email": request.email,
        # The manual steps still open, and who owns each: the alert says whom to chase.
        "manual_steps": [{"source": t.source, "owner_email": t.owner_email} for t in open_tasks],
    }


async def _items(
    session: AsyncSession, requests: list[PrivacyRequest], now: datetime
) -> list[dict[str, object]]:
    open_tasks = await manual.open_of_requests(session, [r.id for r in requests])
    return [_item(r, now, open_tasks.get(r.id, [])) for r in requests]


def _due_soon_kind(threshold: timedelta) -> str:
    return f"due_soon:{to_iso8601(threshold)}"


async def alert_due_soon(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """Each threshold alerts once per request; a request first seen inside a tighter threshold is listed
    only under that one (and marked for the wider ones, so it is not listed again later)."""
    thresholds = sorted(ctx.settings.deadline_warnings)  # tightest first
    for position, threshold in enumerate(thresholds):
        fresh = await repository.open_not_yet_alerted(
            session, _due_soon_kind(threshold), due_after=now, due_by=now + threshold, limit=ALERT_BATCH
        )
        if not fresh:
            continue
        wider = [_due_soon_kind(t) for t in thresholds[position + 1 :]]
        # A request first seen here may already carry a wider mark (it was listed there earlier).
        already = await repository.alert_marks(session, [r.id for r in fresh], wider)
        for request in fresh:
            for kind in [_due_soon_kind(threshold), *wider]:
                if (request.id, kind) not in already:
                    repository.add_alert(session, request.id, kind, at=now)
            timeline.record(
                session,
                request_id=request.id,
                action="due_soon_alert",
                actor=SYSTEM,
                detail=f"due within {to_iso8601(threshold)}",
            )
        # The wider thresholds' queries must see these marks.
        await session.flush()
        await email_team(
            session, ctx, "due_soon", threshold=threshold, requests=await _items(session, fresh, now)
        )


async def alert_overdue(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    fresh = await repository.open_not_yet_alerted(
        session, "overdue", due_after=None, due_by=now, limit=ALERT_BATCH
    )
    if not fresh:
        return
    for request in fresh:
        repository.add_alert(session, request.id, "overdue", at=now)
        timeline.record(session, request_id=request.id, action="overdue_alert", actor=SYSTEM)
    await email_team(session, ctx, "overdue", requests=await _items(session, fresh, now))


async def redact_closed_requests(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """RECORDS_RETENTION after a request closed, its personal fields are masked and hashed."""
    count = await redaction.redact_closed(
        session,
        secret_key=ctx.secret_key,
        closed_before=now - ctx.settings.records_retention,
        now=now,
        limit=BATCH,
    )
    if count:
        log.info("redacted %s closed requests past RECORDS_RETENTION", count)


async def prune_idempotency_keys(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """Idempotency keys (each holds the first answer) go JOB_RETENTION after they were used."""
    await repository.delete_idempotency_keys_before(
        session, now - ctx.settings.job_retention, limit=PRUNE_BATCH
    )


# Deadlines and expiries: each poll interval.
STEPS = (expire_unconfirmed, auto_handle, alert_due_soon, alert_overdue)
# Retention, counted in days: once a housekeeping interval.
HOUSEKEEPING = (redact_closed_requests, prune_idempotency_keys)
