"""The end of a request's work when it has manual steps (contract section 10): a confirmed deletion is
processed, and the customer told, once the automatic erasure AND every manual task are done, whichever
finishes last; an automatic access request's package is built once every task is done.

Each finisher (the erasure job, a person marking a task done) holds the request's row lock
(``app.manual.repository.lock_request``) while it counts what is left, so exactly one of them completes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.context import ServiceContext
from app.core.lifecycle import Action, Status
from app.jobs.repository import enqueue
from app.manual import repository as manual
from app.models import PrivacyRequest
from app.recipients.service import notify_recipients
from app.requests import repository
from app.requests.actions import ACCESS_PACKAGE, transition
from app.requests.notify import email_customer


async def erasure_ran(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, report: dict[str, Any]
) -> PrivacyRequest:
    """The automatic erasure of a locked, ``in_progress`` deletion has run: complete it now if no manual
    task is open; otherwise its report waits in ``result`` until the last task is done."""
    if await manual.count_open(session, request.id) == 0:
        return await complete_erasure(session, ctx, request, report)
    waiting = await repository.transition(
        session, request.id, expected_status=Status.IN_PROGRESS, values={"result": report}
    )
    return waiting or request


async def task_done(session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest) -> PrivacyRequest:
    """A task of the locked ``request`` was just marked done: if it was the last open one, finish what waited
    for it (the deletion's completion once its erasure has run; the automatic access request's package)."""
    if request.status != Status.IN_PROGRESS or await manual.count_open(session, request.id):
        return request
    if request.type == "deletion":
        # ``result`` holds the erasure report once the automatic erasure has run (a retry clears it).
        if request.result is not None and request.handling == "automatic":
            return await complete_erasure(session, ctx, request, request.result)
        return request
    if request.handling == "automatic":
        await enqueue(session, ACCESS_PACKAGE, {"request_id": str(request.id)}, request_id=request.id)
    return request


async def complete_erasure(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, report: dict[str, Any]
) -> PrivacyRequest:
    """``in_progress`` -> ``processed`` with the erasure report, and the customer's completion email.

    The conditional update still makes a racer lose (409) rather than complete twice.
    """
    # Those the erased data was passed to are asked to erase it too (Art. 19), once each; the report and
    # the customer's email name them.
    if told := await notify_recipients(session, ctx, request, report):
        report = {**report, "recipients": told}
    # The systems without an API whose owner marked their task done: the customer reads that their data
    # there was erased by hand (never that nothing was found).
    if by_hand := await manual_sources_done(session, ctx, request.id):
        report = {**report, "manual": by_hand}
    request = await transition(
        session, request, Action.COMPLETE, {"processed_at": clock.now(), "result": report}
    )
    await email_customer(session, ctx, request, "deletion_completed", report=report)
    return request


async def manual_sources_done(
    session: AsyncSession, ctx: ServiceContext, request_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The request's manual sources whose task was marked done, as customers read them: ``{"source",
    "title"}`` (the title as SOURCES_FILE gives it, else the source's name)."""
    return _as_read(ctx, await manual.done_sources(session, request_id))


async def manual_sources_done_of(
    session: AsyncSession, ctx: ServiceContext, request_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """:func:`manual_sources_done` of several requests in one query, by request id (none done: left out)."""
    done = await manual.done_sources_of(session, request_ids)
    return {request_id: _as_read(ctx, names) for request_id, names in done.items()}


def _as_read(ctx: ServiceContext, names: list[str]) -> list[dict[str, Any]]:
    titles = {source.name: source.shown_title for source in ctx.sources.manual}
    return [{"source": name, "title": titles.get(name, name)} for name in names]
