"""Operator, customer and system actions on a request. Each goes through the lifecycle table and is applied
with a conditional update, so of two actors racing exactly one wins and the other gets 409."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import CUSTOMER
from app.core import clock, tokens
from app.core.context import ServiceContext
from app.core.errors import Gone, InvalidTransition, NotFound
from app.core.lifecycle import OPEN, Action, Status, next_status
from app.deadlines.due_dates import extended_due_at
from app.jobs.repository import enqueue
from app.manual import repository as manual
from app.manual.service import open_tasks
from app.models import PrivacyRequest
from app.requests import repository
from app.requests.notify import email_confirmation_link, email_customer

# Job kinds the worker runs for requests (see app.work.handlers).
ACCESS_PACKAGE = "access_package"
ERASURE = "erasure"


async def get_or_404(session: AsyncSession, request_id: uuid.UUID) -> PrivacyRequest:
    request = await repository.get(session, request_id)
    if request is None:
        raise NotFound("No privacy request has this id.")
    return request


async def transition(
    session: AsyncSession,
    request: PrivacyRequest,
    action: Action,
    values: dict[str, Any] | None = None,
) -> PrivacyRequest:
    """Move ``request`` by ``action`` if it is still where we read it; 409 when the table or a racer says no."""
    target = next_status(type=request.type, status=request.status, action=action, handling=request.handling)
    changes = {"status": target.value, **(values or {})}
    moved = await repository.transition(session, request.id, expected_status=request.status, values=changes)
    if moved is None:
        raise InvalidTransition("The request was changed by someone else at the same time; reload it.")
    return moved


async def accept(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, handling: str, actor: str
) -> PrivacyRequest:
    """Accept a pending access request, or retry a failed request's automatic work."""
    request = await get_or_404(session, request_id)
    action, values = accept_move(request, handling=handling, now=clock.now())
    request = await transition(session, request, action, values)
    await accepted(session, ctx, request, action=action, actor=actor)
    return request


def accept_move(request: PrivacyRequest, *, handling: str, now: datetime) -> tuple[Action, dict[str, Any]]:
    """The lifecycle action accepting ``request`` is (accept, or retry when failed) and what it writes;
    ``InvalidTransition`` when the request cannot be accepted so. Shared by the single and the bulk accept."""
    if request.status == Status.FAILED:
        if request.type == "deletion" and handling != "automatic":
            raise InvalidTransition("A failed deletion can only be retried with automatic handling.")
        action, values = Action.RETRY, {"handling": handling, "accepted_at": now, "result": None}
    else:
        action, values = Action.ACCEPT, {"handling": handling, "accepted_at": now}
    next_status(type=request.type, status=request.status, action=action, handling=request.handling)
    return action, values


async def accepted(
    session: AsyncSession,
    ctx: ServiceContext,
    request: PrivacyRequest,
    *,
    action: Action,
    actor: str,
    received_now: bool = False,
) -> None:
    """What follows an accepted request (moved already): its timeline entry and, if automatic, its job.
    ``received_now``: the request was created in this transaction, so its only manual tasks are those opened
    here (no query counts them)."""
    handling = request.handling
    timeline.record(
        session,
        request_id=request.id,
        action="retried" if action is Action.RETRY else "accepted",
        actor=actor,
        detail=f"{handling} handling",
    )
    # A task per manual source (a retry keeps those it has). The package waits for the last one to be done
    # (app.requests.completion); the erasure runs now and the deletion completes after both.
    opened = await open_tasks(session, ctx, request)
    if handling == "automatic":
        if request.type == "deletion":
            await enqueue(session, ERASURE, {"request_id": str(request.id)}, request_id=request.id)
        elif (len(opened) if received_now else await manual.count_open(session, request.id)) == 0:
            await enqueue(session, ACCESS_PACKAGE, {"request_id": str(request.id)}, request_id=request.id)


async def fulfil(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    request_id: uuid.UUID,
    send_download_link: bool,
    note: str | None,
    actor: str,
) -> PrivacyRequest:
    """Mark a manually handled access request fulfilled; with a link, the package is built and emailed."""
    request = await get_or_404(session, request_id)
    if request.status == Status.IN_PROGRESS and request.handling != "manual":
        raise InvalidTransition("Only a manually handled request can be fulfilled by an operator.")
    if request.status == Status.IN_PROGRESS and (waiting := await manual.count_open(session, request.id)):
        raise InvalidTransition(
            f"{waiting} manual step(s) of this request are still open; "
            "they must be marked done before it can be fulfilled."
        )
    request = await transition(session, request, Action.FULFIL, {"processed_at": clock.now()})
    how = "download link to be emailed" if send_download_link else "delivered by the operator"
    timeline.record(session, request_id=request.id, action="fulfilled", actor=actor, detail=how, text=note)
    if send_download_link:
        await enqueue(
            session, ACCESS_PACKAGE, {"request_id": str(request.id), "fulfilled": True}, request_id=request.id
        )
    else:
        await email_customer(session, ctx, request, "access_fulfilled", note=note)
    return request


async def dismiss(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    request_id: uuid.UUID,
    reason: str,
    notify: bool,
    actor: str,
) -> PrivacyRequest:
    """Delete (dismiss) a request; it stays on record with its timeline, hidden from the default list.

    With ``notify`` the customer is told the reason and their rights (``request_declined``); without, the
    timeline keeps the reason as why they were not told (e.g. a duplicate of a request answered already).
    """
    request = await get_or_404(session, request_id)
    action, values = dismiss_move(request, now=clock.now())
    request = await transition(session, request, action, values)
    await dismissed(session, ctx, request, reason=reason, notify=notify, actor=actor)
    return request


def dismiss_move(request: PrivacyRequest, *, now: datetime) -> tuple[Action, dict[str, Any]]:
    """The lifecycle action dismissing ``request`` and what it writes; ``InvalidTransition`` when the request
    cannot be dismissed. Shared by the single and the bulk dismiss."""
    next_status(type=request.type, status=request.status, action=Action.DISMISS, handling=request.handling)
    return Action.DISMISS, {"deleted_at": now}


async def dismissed(
    session: AsyncSession,
    ctx: ServiceContext,
    request: PrivacyRequest,
    *,
    reason: str,
    notify: bool,
    actor: str,
) -> None:
    """What follows a dismissed request (moved already): its timeline entry and, with ``notify``, the email.
    Shared by the single and the bulk dismiss."""
    told = "the customer is told" if notify else "the customer is not told"
    timeline.record(session, request_id=request.id, action="deleted", actor=actor, detail=told, text=reason)
    # Nothing is left to do by hand for a dismissed request: its open tasks leave the owners' lists.
    if cancelled := await manual.cancel_open(session, request.id):
        timeline.record(
            session,
            request_id=request.id,
            action="manual_steps_cancelled",
            actor=actor,
            detail=", ".join(cancelled),
        )
    if notify:
        await email_customer(session, ctx, request, "request_declined", reason=reason)


async def extend(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, reason: str, actor: str
) -> PrivacyRequest:
    """Extend the deadline once, before it passes: GDPR +2 calendar months, CCPA +45 days, LGPD never."""
    request = await get_or_404(session, request_id)
    now = clock.now()
    new_due_at = extended_due_at(request.regulation, request.due_at, zone=ctx.settings.zone)
    if new_due_at is None:
        raise InvalidTransition(f"A {request.regulation.upper()} request cannot be extended.")
    if request.extended_at is not None:
        raise InvalidTransition("The deadline was already extended once.")
    if now >= request.due_at:
        raise InvalidTransition("The deadline has passed; it can only be extended before it.")
    if request.status not in OPEN:
        raise InvalidTransition(f"A request in status '{request.status}' cannot be extended.")
    previous_due_at = request.due_at
    request = await transition(session, request, Action.EXTEND, {"due_at": new_due_at, "extended_at": now})
    # Threshold alerts fire again for the new due date.
    await repository.clear_deadline_alerts(session, request.id)
    timeline.record(
        session,
        request_id=request.id,
        action="extended",
        actor=actor,
        detail=f"due date {_utc(previous_due_at)} -> {_utc(new_due_at)}",
        text=reason,
    )
    await email_customer(
        session,
        ctx,
        request,
        "deadline_extended",
        reason=reason,
        new_due_at=new_due_at,
        previous_due_at=previous_due_at,
    )
    return request


def _utc(at: datetime) -> str:
    """A moment as the API writes it (RFC 3339, UTC)."""
    return clock.as_utc(at).isoformat().replace("+00:00", "Z")


async def resend_verification(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, actor: str
) -> PrivacyRequest:
    """A new confirmation link with a fresh expiry; the old link stops working."""
    request = await get_or_404(session, request_id)
    token, token_hash = tokens.new_token(ctx.secret_key)
    expires_at = clock.now() + ctx.settings.verification_ttl
    request = await transition(
        session,
        request,
        Action.RESEND,
        {"verification_token_hash": token_hash, "verification_expires_at": expires_at},
    )
    timeline.record(session, request_id=request.id, action="verification_resent", actor=actor)
    await email_confirmation_link(session, ctx, request, token=token, expires_at=expires_at)
    return request


async def find_by_token(session: AsyncSession, ctx: ServiceContext, token: str) -> PrivacyRequest:
    """The unverified request a confirmation token belongs to: 404 unknown or used, 410 expired."""
    if not tokens.looks_like_token(token):
        raise NotFound("This confirmation link is not valid.")
    request = await repository.find_by_verification_hash(session, tokens.hash_token(token, ctx.secret_key))
    if request is None or request.status not in (Status.UNVERIFIED, Status.EXPIRED):
        raise NotFound("This confirmation link is not valid or was already used.")
    expires_at = request.verification_expires_at
    if request.status == Status.EXPIRED or (expires_at is not None and clock.now() >= expires_at):
        raise Gone("This confirmation link has expired.")
    return request


async def confirm(session: AsyncSession, ctx: ServiceContext, *, token: str) -> PrivacyRequest:
    """The customer confirms a deletion: the token is spent and the erasure is queued."""
    request = await find_by_token(session, ctx, token)
    request = await transition(
        session,
        request,
        Action.CONFIRM,
        # The token's hash stays: it no longer confirms anything (only an unverified request is found by it),
        # but a used link can still show its "already confirmed" page in the customer's language.
        {"verified_at": clock.now(), "handling": "automatic"},
    )
    timeline.record(session, request_id=request.id, action="confirmed", actor=CUSTOMER)
    await open_tasks(session, ctx, request)
    await enqueue(session, ERASURE, {"request_id": str(request.id)}, request_id=request.id)
    return request
