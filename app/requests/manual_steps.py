"""A person marks a manual task done: recorded with their name and note, and when it was the request's last
open task, the request moves on (app.requests.completion)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.core import clock
from app.core.context import ServiceContext
from app.core.errors import Conflict, NotFound
from app.manual import repository as manual
from app.manual.service import task_view, tasks_of
from app.requests.actions import get_or_404
from app.requests.completion import task_done


async def list_for_request(session: AsyncSession, request_id: uuid.UUID) -> list[dict[str, Any]]:
    """The request's tasks, oldest first; 404 when the request does not exist."""
    await get_or_404(session, request_id)
    return await tasks_of(session, request_id)


async def mark_done(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    request_id: uuid.UUID,
    task_id: uuid.UUID,
    note: str,
    actor: str,
) -> dict[str, Any]:
    """Open -> done with the person's name and note (also on the timeline, ``manual_step_done``).

    404 for an unknown request or task; 409 for a task done already or cancelled with its request. Of two
    people marking the same task at once, exactly one succeeds.
    """
    # The request's row lock first: the erasure finishing now, or another task marked done now, is then
    # either seen here or sees this one, so exactly one of them completes the request.
    request = await manual.lock_request(session, request_id)
    if request is None:
        raise NotFound("No privacy request has this id.")
    task = await manual.get(session, request_id=request_id, task_id=task_id)
    if task is None:
        raise NotFound("This privacy request has no manual task with this id.")
    # Read under the request's row lock, so no one else can have changed the task since: one guard is enough.
    if task.status == manual.DONE:
        raise Conflict(f"This manual step was already marked done by {task.done_by}.")
    if task.status == manual.CANCELLED:
        raise Conflict("This manual step was cancelled: its request was deleted.")
    done = await manual.mark_done(session, task.id, at=clock.now(), by=actor, note=note)
    timeline.record(
        session, request_id=request.id, action="manual_step_done", actor=actor, detail=done.source, text=note
    )
    await task_done(session, ctx, request)
    return task_view(done)
