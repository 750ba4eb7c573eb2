"""Submitting and reading privacy requests: the rules, not the SQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.auth.keys import Principal, Role
from app.core import clock, cursors, tokens
from app.core.context import ServiceContext
from app.core.db import JOBS_ENQUEUED
from app.core.errors import Conflict
from app.core.lifecycle import Action, Status, initial_status, next_status
from app.deadlines.due_dates import due_at_for
from app.manual import repository as manual
from app.manual.service import tasks_of
from app.models import IdempotencyKey, PrivacyRequest
from app.requests import redaction, repository, requester
from app.requests.actions import accept_move, accepted, get_or_404
from app.requests.notify import email_confirmation_link, email_customer
from app.requests.repository import Cursor, ListFilters
from app.requests.schemas import SubmitRequest, normalise_email
from app.requests.views import app_view, detail_view, json_ready, operator_view, view


@dataclass(frozen=True)
class SubmitOutcome:
    status_code: int  # 201 new, 200 an existing open request (or a replay)
    body: dict[str, Any]


def _fingerprint(body: SubmitRequest, token_customer_id: str | None) -> str:
    # The signed-in customer is part of what was asked: one app key serves every customer of the app.
    material = {**body.model_dump(), "_signed_in": token_customer_id}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


async def submit(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    principal: Principal,
    body: SubmitRequest,
    token_customer_id: str | None,
    idempotency_key: str | None,
) -> SubmitOutcome:
    """Record a request, or return the open one of the same subject and type, or replay an idempotent repeat.

    Who the request concerns is decided by :func:`requester.identify` (contract section 7). The app role's
    answer never reveals whether the email belongs to a customer: both get the same status and shape.
    """
    fingerprint = _fingerprint(body, token_customer_id)
    if idempotency_key is not None:
        # Claiming the key is the lookup too: a key already used conflicts and its first answer is replayed.
        replay = await _claim_key(session, principal=principal, key=idempotency_key, fingerprint=fingerprint)
        if replay is not None:
            return replay

    who = await requester.identify(
        ctx.sources,
        principal=principal,
        body=body,
        token_customer_id=token_customer_id,
        token_required=ctx.settings.customer_token_required,
    )
    existing, created = await _create(session, ctx, principal=principal, body=body, who=who)
    answer = json_ready(view(existing, now=clock.now(), operator=principal.has(Role.OPERATOR)))
    outcome = SubmitOutcome(201 if created else 200, answer)
    if idempotency_key is not None:
        await repository.complete_idempotent(
            session,
            api_key_id=principal.key_id,
            key=idempotency_key,
            request_id=existing.id,
            status_code=outcome.status_code,
            body=outcome.body,
        )
    return outcome


def _replay(previous: IdempotencyKey, fingerprint: str) -> SubmitOutcome:
    if previous.fingerprint != fingerprint:
        raise Conflict("This Idempotency-Key was used before with a different body.")
    return SubmitOutcome(previous.status_code, previous.response_body)


async def _claim_key(
    session: AsyncSession, *, principal: Principal, key: str, fingerprint: str
) -> SubmitOutcome | None:
    """Insert the key first: a concurrent repeat waits on it, then replays the winner's answer (returned)."""
    values = {
        "api_key_id": principal.key_id,
        "key": key,
        "fingerprint": fingerprint,
        "request_id": uuid.UUID(int=0),
        "status_code": 0,
        "response_body": {},
        "created_at": clock.now(),
    }
    if not await repository.insert_unless_conflict(
        session, IdempotencyKey, values, index_elements=["api_key_id", "key"]
    ):
        previous = await repository.find_idempotent(session, api_key_id=principal.key_id, key=key)
        if previous is None or previous.status_code == 0:
            raise Conflict("A request with this Idempotency-Key is being processed; retry shortly.")
        return _replay(previous, fingerprint)
    return None


async def _create(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    principal: Principal,
    body: SubmitRequest,
    who: requester.Requester,
) -> tuple[PrivacyRequest, bool]:
    """Insert a new request with its first event and email, in one statement that yields to an open request
    of the same subject and type (the partial unique index decides, also between concurrent submits):
    then (that open request, False)."""
    now = clock.now()
    settings = ctx.settings
    customer, subject = who.customer, who.subject
    request = PrivacyRequest(
        id=uuid.uuid4(),
        handling=None,
        verified_at=None,
        accepted_at=None,
        processed_at=None,
        deleted_at=None,
        extended_at=None,
        result=None,
        verification_token_hash=None,
        verification_expires_at=None,
        type=body.type,
        status=initial_status(body.type),
        regulation=body.regulation,
        email=who.email,
        customer_id=customer.id if customer else None,
        customer_name=customer.name if customer else None,
        customer_email=customer.email if customer else None,
        subject=subject,
        channel=body.channel,
        locale=body.locale,
        received_at=now,
        due_at=due_at_for(
            body.regulation, now, request_deadline=settings.request_deadline, zone=settings.zone
        ),
    )
    # Accepted at once (AUTO_ACCEPT_ACCESS): the row is written accepted, so no UPDATE follows its INSERT, and
    # its timeline says it was received, then accepted (each event's webhook with the status it left).
    accept = request.type == "access" and settings.auto_accept_access
    if accept:
        _, moved = accept_move(request, handling="automatic", now=now)
        target = next_status(type=request.type, status=request.status, action=Action.ACCEPT, handling=None)
        for column, value in {"status": target.value, **moved}.items():
            setattr(request, column, value)
    token = None
    if request.type == "deletion":
        token, request.verification_token_hash = tokens.new_token(ctx.secret_key)
        request.verification_expires_at = now + settings.verification_ttl
    values = repository.column_values(request)
    if ctx.sources.manual:
        # Opening its manual steps reads and flushes: the request goes in first, the rest as the unit of work commits.
        if await repository.insert_request(session, values):
            await _stage_new(
                session, ctx, principal=principal, body=body, request=request, token=token, accept=accept
            )
            return request, True
        return await _answer_open(session, principal=principal, body=body, subject=subject), False
    # Otherwise what the new request brings is staged first (its timeline, its email rendered, its jobs), so that
    # on PostgreSQL the request and all of it go in one statement; an open request of the same subject and type
    # stops the lot, and then nothing staged is written.
    before = {id(row) for row in session.new}
    waking = session.info.get(JOBS_ENQUEUED)
    await _stage_new(
        session, ctx, principal=principal, body=body, request=request, token=token, accept=accept
    )
    staged = [row for row in session.new if id(row) not in before]
    if await _inserted(session, values, staged):
        return request, True
    _unstage(session, staged)
    if not waking:  # no job of this submit's was written: no worker to wake for it
        session.info.pop(JOBS_ENQUEUED, None)
    return await _answer_open(session, principal=principal, body=body, subject=subject), False


def _via(body: SubmitRequest) -> str:
    """How the request came in, for its timeline (`` via ios-app``), or nothing."""
    return f" via {body.channel}" if body.channel else ""


async def _answer_open(
    session: AsyncSession, *, principal: Principal, body: SubmitRequest, subject: str
) -> PrivacyRequest:
    """The open request of ``subject`` and the body's type, asked for again: answered with it and no new email,
    but on its record."""
    winner = await repository.find_open(session, subject=subject, type=body.type)
    if winner is None:  # it closed between the two statements: extremely rare, and safe to retry
        raise Conflict("A request for this person was being recorded at the same time; retry.")
    timeline.record(
        session,
        request_id=winner.id,
        action="resubmitted",
        actor=principal.name,
        detail=f"the same {body.type} request again{_via(body)}; answered with this open request",
    )
    if body.note is not None:  # how an operator checked the identity still goes on the open request
        timeline.record(session, request_id=winner.id, action="note", actor=principal.name, text=body.note)
    return winner


async def _stage_new(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    principal: Principal,
    body: SubmitRequest,
    request: PrivacyRequest,
    token: str | None,
    accept: bool,
) -> None:
    """Add to the unit of work what a new request brings: its first events, its email, its jobs."""
    timeline.record(
        session,
        request_id=request.id,
        action="received",
        actor=principal.name,
        detail=f"{body.type} request{_via(body)}",
        status_after=initial_status(body.type).value if accept else None,
    )
    if body.note is not None:
        timeline.record(session, request_id=request.id, action="note", actor=principal.name, text=body.note)
    if request.type == "deletion":
        assert token is not None
        assert request.verification_expires_at is not None
        await email_confirmation_link(
            session, ctx, request, token=token, expires_at=request.verification_expires_at
        )
    else:
        await email_customer(session, ctx, request, "access_acknowledged")
        if accept:
            await accepted(session, ctx, request, action=Action.ACCEPT, actor=SYSTEM, received_now=True)


async def _inserted(session: AsyncSession, values: dict[str, Any], staged: list[Any]) -> bool:
    """Insert the request (``values``) unless an open one of its subject and type exists; True when it went in.

    On PostgreSQL the rows ``staged`` for it go in the same statement (then taken out of the unit of work),
    unless a webhook subscription exists or a staged row is of a kind that statement does not write: then the
    request goes in alone and the unit of work writes the rest as it commits, raising the webhook events.
    """
    if session.get_bind().dialect.name == "postgresql":
        try:
            outcome = await repository.insert_with_rows(session, values, staged)
        except repository.Unsupported:
            pass
        else:
            if not outcome.subscribed:
                if outcome.inserted:
                    _unstage(session, staged)  # written with the request
                return outcome.inserted
    return await repository.insert_request(session, values)


def _unstage(session: AsyncSession, staged: list[Any]) -> None:
    """Take ``staged`` rows out of the unit of work (written already, or never to be)."""
    for row in staged:
        session.expunge(row)
    timeline.forget(session, staged)


def encode_cursor(cursor: Cursor) -> str:
    return cursors.encode(cursors.Position(key=cursor.key, id=cursor.id, sort=cursor.sort))


def decode_cursor(text: str, *, sort: str) -> Cursor:
    position = cursors.decode(text, sort=sort)
    return Cursor(sort=sort, key=position.key, id=position.id)


def resolved(filters: ListFilters, ctx: ServiceContext) -> ListFilters:
    """The filters with the keyed hashes that also find requests whose address was masked after
    RECORDS_RETENTION: of the ``email`` filter, and of a search that is a whole address."""
    if filters.email is not None:
        filters = replace(filters, email_hash=redaction.email_hash(filters.email, secret_key=ctx.secret_key))
    if filters.search is not None:
        try:
            address = normalise_email(filters.search)
        except ValueError:
            pass
        else:
            filters = replace(filters, search_hash=redaction.email_hash(address, secret_key=ctx.secret_key))
    return filters


async def list_requests(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    filters: ListFilters,
    sort: str,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of requests in keyset order with the cursor of the next page (None on the last).

    An ``email`` filter also finds requests whose address was masked after RECORDS_RETENTION (by its hash).
    """
    now = clock.now()
    filters = resolved(filters, ctx)
    position = decode_cursor(cursor, sort=sort) if cursor else None
    rows = await repository.list_page(session, filters, sort=sort, limit=limit, cursor=position, now=now)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        key = last.received_at if sort.lstrip("-") == "received_at" else last.due_at
        next_cursor = encode_cursor(Cursor(sort=sort, key=key, id=last.id))
    # Times and ids stay objects: the router serialises them (pydantic_core, RFC 3339 with Z), the cockpit
    # formats them.
    return {"items": [operator_view(row, now=now) for row in rows], "next_cursor": next_cursor}


async def get_detail(session: AsyncSession, request_id: uuid.UUID, *, full: bool) -> dict[str, Any]:
    """The operator's detail view (``full``), or the app role's minimal view without a timeline."""
    request = await get_or_404(session, request_id)
    if not full:
        return app_view(request, now=clock.now())
    events = await timeline.events_of(session, request_id)
    body = detail_view(request, events, now=clock.now())
    body["tasks"] = await tasks_of(session, request_id)
    return body


async def stats(session: AsyncSession) -> dict[str, Any]:
    """Counts for the cockpit's dashboard."""
    now = clock.now()
    by_status = {status.value: 0 for status in Status}
    by_type = {"access": 0, "deletion": 0}
    for status, type_, count in await repository.count_by_status_and_type(session):
        by_status[status] = by_status.get(status, 0) + count
        by_type[type_] = by_type.get(type_, 0) + count
    return {
        "by_status": by_status,
        "by_type": by_type,
        "overdue": await repository.count_where(session, repository.overdue_condition(now)),
        "open_manual_tasks": await manual.count_all_open(session),
        "due_within_7_days": await repository.count_where(
            session, repository.due_within_condition(now, now + timedelta(days=7))
        ),
    }


async def requests_of_customer(session: AsyncSession, customer_id: str) -> list[dict[str, Any]]:
    """Every request of a customer (the operator's view), newest first."""
    now = clock.now()
    return [operator_view(r, now=now) for r in await repository.list_for_customer(session, customer_id)]
