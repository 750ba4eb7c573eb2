"""Bulk accept and bulk dismiss: one action over a whole filtered selection (every page, not one screen).

The selection is the list's filters at the moment of the call. Two guards hold against a stale screen: a
``dry_run`` answers the number of requests the selection holds (``matched``) and its ``selection_digest`` (a
SHA-256 of the sorted ids) without acting; the real call sends ``expected_count`` (required) and may send the
digest back. If the selection now holds another number, or other requests (one left and another arrived), nothing
changes (409). The same guards make a retried call harmless: once acted on, the selection no longer holds what
it held.

Each request goes through the same lifecycle as the single action (:func:`actions.accept_move`,
:func:`actions.dismiss_move`) and the same conditional update, batched: per batch one read of the counted ids
*with the selection's filters* and their rows locked (a request another operator moved out of the selection
since it was counted is skipped, not acted on from wherever it is now), one ``UPDATE ... WHERE id IN (...) AND
status = :read`` per status read, then the same timeline entry, job and email as the single action
(:func:`actions.accepted`, :func:`actions.dismissed`). Every batch is its own transaction, so no lock or
snapshot is held for the whole selection; a failure leaves the batches before it done (on their timelines: a
retry's guard then refuses, and a dry run counts what is left).
"""

from __future__ import annotations

import hashlib
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
from app.requests.schemas import BULK_MAX  # the most requests one call acts on (the bodies' bound too)

# Requests per transaction.
BATCH = 200
# Skipped requests listed in the answer (all are counted).
SKIPPED_SHOWN = 100
RACED = "changed by someone else at the same time"
LEFT = "no longer matches the filter"

# What one action plans for a request read now: (lifecycle action, values written); InvalidTransition if none.
Move = Callable[[PrivacyRequest, datetime], tuple[Action, dict[str, Any]]]
# What follows a moved request in the same transaction: the timeline entry, the job, the email.
After = Callable[[AsyncSession, PrivacyRequest, Action], Awaitable[None]]


def digest_of(ids: Sequence[uuid.UUID]) -> str:
    """The selection's fingerprint: SHA-256 (hex) of its ids, lower case with hyphens, sorted, one a line."""
    return hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode()).hexdigest()


@dataclass
class BulkOutcome:
    matched: int
    selection_digest: str
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
            "selection_digest": self.selection_digest,
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
    selection_digest: str | None,
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
        selection_digest=selection_digest,
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
    selection_digest: str | None,
    dry_run: bool,
    actor: str,
) -> BulkOutcome:
    """Dismiss every request of the selection that can be dismissed; with ``notify`` each customer is told."""

    def move(request: PrivacyRequest, now: datetime) -> tuple[Action, dict[str, Any]]:
        return actions.dismiss_move(request, now=now)

    async def after(session: AsyncSession, request: PrivacyRequest, action: Action) -> None:
        await actions.dismissed(session, ctx, request, reason=reason, notify=notify, actor=actor)

    return await _run(
        session,
        filters=service.resolved(filters, ctx),
        expected_count=expected_count,
        selection_digest=selection_digest,
        dry_run=dry_run,
        move=move,
        after=after,
    )


async def _run(
    session: AsyncSession,
    *,
    filters: ListFilters,
    expected_count: int | None,
    selection_digest: str | None,
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
    outcome = BulkOutcome(matched=len(ids), selection_digest=digest_of(ids), dry_run=dry_run)
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
    if selection_digest is not None and selection_digest != outcome.selection_digest:
        raise Conflict(
            f"The selection still holds {len(ids)} requests, but not the ones counted (one left it and another "
            "arrived); nothing changed. Look at it again (a dry run gives the new selection_digest)."
        )
    # The one exception to "services never commit": the caller's unit of work is committed after each batch
    # (and once before the first, ending the read of the selection), so a large selection never holds one
    # long transaction. The session dependency commits the last batch and wakes the workers.
    await session.commit()
    for start in range(0, len(ids), BATCH):
        await _batch(session, ids[start : start + BATCH], outcome, filters=filters, move=move, after=after)
        if start + BATCH < len(ids):
            await session.commit()
    return outcome


async def _batch(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    outcome: BulkOutcome,
    *,
    filters: ListFilters,
    move: Move,
    after: After,
) -> None:
    now = clock.now()
    # The counted ids read again with the filters: only what still belongs to the selection is acted on.
    requests = await repository.lock_still_selected(session, filters, ids, now=now)
    left = set(ids) - {request.id for request in requests}
    if left:
        for request in await repository.get_many(session, sorted(left)):
            outcome.skip(request.id, request.status, LEFT)
    # Requests that may move, grouped by the status read and the move: one conditional UPDATE per group.
    groups: dict[tuple[str, Action, str], tuple[dict[str, Any], list[PrivacyRequest]]] = {}
    for request in requests:
        try:
            action, values = move(request, now)
        except InvalidTransition as refused:
            outcome.skip(request.id, request.status, refused.detail)
            continue
        # The move checked the lifecycle already; this only names where it leads.
        target = next_status(
            type=request.type, status=request.status, action=action, handling=request.handling
        )
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
