"""Bulk accept and bulk dismiss: one action over a whole filtered selection (every page, not one screen).

The selection is the list's filters at the moment of the call. ``expected_count`` is the guard against a stale
screen: it must equal the number of requests the selection holds now, else nothing changes (409); a
``dry_run`` answers that number without acting, so a client shows "accept these 120 requests?" and then sends
``expected_count: 120``. The same guard makes a retried call harmless: once acted on, the selection no longer
holds what it held.

Each request goes through the same lifecycle as the single action (:func:`actions.accept_move`,
``next_status``) and the same conditional update, batched: per batch one read, one ``UPDATE ... WHERE id IN
(...) AND status = :read`` per status read (a request another operator moved meanwhile does not match and is
reported as skipped), then the same timeline entry, job and email as the single action
(:func:`actions.accepted`, :func:`actions.dismissed`). Every batch is its own transaction, so no lock or
snapshot is held for the whole selection; a failure leaves the batches before it done (on their timelines: a
retry's guard then refuses, and a dry run counts what is left).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.context import ServiceContext
from app.core.errors import Conflict, InvalidTransition, ValidationFailed
from app.core.lifecycle import Action, next_status
from app.models import PrivacyRequest
from app.requests import actions, repository, service
from app.requests.repository import ListFilters

# The most requests one call acts on: larger selections are narrowed by the filters (received_before, ...).
BULK_MAX = 10_000
# Requests per transaction.
BATCH = 200
# Skipped requests listed in the answer (all are counted).
SKIPPED_SHOWN = 100
RACED = "changed by someone else at the same time"

# What one action plans for a request read now: (lifecycle action, values written); InvalidTransition if none.
Move = Callable[[PrivacyRequest, datetime], tuple[Action, dict[str, Any]]]
# What follows a moved request in the same transaction: the timeline entry, the job, the email.
After = Callable[[AsyncSession, PrivacyRequest, Action], Awaitable[None]]


@dataclass
class BulkOutcome:
    matched: int
    changed: int = 0
    skipped_count: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    dry_run: bool = False

    def skip(self, request_id: uuid.UUID, status: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SKIPPED_SHOWN:
            self.skipped.append({"id": str(request_id), "status": status, "reason": reason})

    def answer(self) -> dict[str, Any]:
        return {
            "matched": self.matched,
            "changed": self.changed,
            "skipped_count": self.skipped_count,
            "skipped": self.skipped,
            "dry_run": self.dry_run,
        }


async def accept(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    filters: ListFilters,
    handling: str,
    expected_count: int | None,
    dry_run: bool,
    actor: str,
) -> BulkOutcome:
    """Accept every request of the selection that can be accepted (pending access, or failed: retried)."""

    def move(request: PrivacyRequest, now: datetime) -> tuple[Action, dict[str, Any]]:
        return actions.accept_move(request, handling=handling, now=now)

    async def after(session: AsyncSession, request: PrivacyRequest, action: Action) -> None:
        await actions.accepted(session, ctx, request, action=action, actor=actor)

    return await _run(
        session,
        filters=service.resolved(filters, ctx),
        expected_count=expected_count,
        dry_run=dry_run,
        move=move,
        after=after,
    )


async def dismiss(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    filters: ListFilters,
    reason: str,
    notify: bool,
    expected_count: int | None,
    dry_run: bool,
    actor: str,
) -> BulkOutcome:
    """Dismiss every request of the selection that can be dismissed; with ``notify`` each customer is told."""

    def move(request: PrivacyRequest, now: datetime) -> tuple[Action, dict[str, Any]]:
        next_status(
            type=request.type, status=request.status, action=Action.DISMISS, handling=request.handling
        )
        return Action.DISMISS, {"deleted_at": now}

    async def after(session: AsyncSession, request: PrivacyRequest, action: Action) -> None:
        await actions.dismissed(session, ctx, request, reason=reason, notify=notify, actor=actor)

    return await _run(
        session,
        filters=service.resolved(filters, ctx),
        expected_count=expected_count,
        dry_run=dry_run,
        move=move,
        after=after,
    )


async def _run(
    session: AsyncSession,
    *,
    filters: ListFilters,
    expected_count: int | None,
    dry_run: bool,
    move: Move,
    after: After,
) -> BulkOutcome:
    # Oldest first: if a batch fails, what is left is the newest part of the selection.
    ids = await repository.selection_ids(
        session, filters, sort="received_at", limit=BULK_MAX + 1, now=clock.now()
    )
    if len(ids) > BULK_MAX:
        raise ValidationFailed(
            f"The selection holds more than {BULK_MAX:,} requests; narrow it (e.g. with received_before).",
            fields=[{"field": "filter", "detail": f"more than {BULK_MAX} requests match"}],
        )
    outcome = BulkOutcome(matched=len(ids), dry_run=dry_run)
    if dry_run:
        return outcome
    if expected_count is None:
        raise ValidationFailed(
            "expected_count is required (the number of requests the selection showed; a dry run gives it).",
            fields=[{"field": "expected_count", "detail": "required unless dry_run is true"}],
        )
    if expected_count != len(ids):
        raise Conflict(
            f"The selection now holds {len(ids)} requests, not the {expected_count} expected; "
            "nothing changed. Look at it again (a dry run gives the number)."
        )
    # The one exception to "services never commit": the caller's unit of work is committed after each batch
    # (and once before the first, ending the read of the selection), so a large selection never holds one
    # long transaction. The session dependency commits the last batch and wakes the workers.
    await session.commit()
    for start in range(0, len(ids), BATCH):
        await _batch(session, ids[start : start + BATCH], outcome, move=move, after=after)
        if start + BATCH < len(ids):
            await session.commit()
    return outcome


async def _batch(
    session: AsyncSession, ids: Sequence[uuid.UUID], outcome: BulkOutcome, *, move: Move, after: After
) -> None:
    now = clock.now()
    requests = {request.id: request for request in await repository.get_many(session, ids)}
    # Requests that may move, grouped by the status read and the move: one conditional UPDATE per group.
    groups: dict[tuple[str, Action, str], tuple[dict[str, Any], list[PrivacyRequest]]] = {}
    for request_id in ids:
        request = requests.get(request_id)
        if request is None:  # requests are never removed; kept for safety
            outcome.skip(request_id, "unknown", "no privacy request has this id")
            continue
        try:
            action, values = move(request, now)
            target = next_status(
                type=request.type, status=request.status, action=action, handling=request.handling
            )
        except InvalidTransition as refused:
            outcome.skip(request.id, request.status, refused.detail)
            continue
        key = (request.status, action, target.value)
        group = groups.setdefault(key, ({"status": target.value, **values}, []))
        group[1].append(request)
    for (status, action, _target), (values, members) in groups.items():
        moved = await repository.transition_many(
            session, [r.id for r in members], expected_status=status, values=values
        )
        for request in moved:
            await after(session, request, action)
        outcome.changed += len(moved)
        lost = {r.id for r in members} - {r.id for r in moved}
        if lost:
            for request in await repository.get_many(session, sorted(lost)):
                outcome.skip(request.id, request.status, RACED)
