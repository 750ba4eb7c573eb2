"""Manual steps: open a task per manual source for a request, email its owner, list and show tasks."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock, cursors
from app.core.context import ServiceContext
from app.manual import repository
from app.manual.repository import Cursor
from app.models import ManualTask, PrivacyRequest
from app.notifications.outbox import email_context, email_team, enqueue_email
from app.sources.config import ManualSource, customer_identifiers, in_language


def cockpit_url(ctx: ServiceContext, request_id: uuid.UUID) -> str:
    """The request's page in the cockpit, where a person marks a task done."""
    return f"{ctx.settings.base_url}/cockpit/requests/{request_id}"


async def open_tasks(session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest) -> list[ManualTask]:
    """One open task per configured manual source the request has none for yet, each owner emailed, in the
    caller's transaction (the accept or confirm that started the work). A retried request keeps its tasks."""
    if not ctx.sources.manual:
        return []
    existing = await repository.sources_of(session, request.id)
    now = clock.now()
    created = []
    for source in ctx.sources.manual:
        if source.name in existing:
            continue
        if not _known_to_owner(source, request):
            # The owner could not find the person: no task (which, marked done, would tell the customer their
            # data there was handled by hand); the timeline says why and the team is asked to step in.
            names = ", ".join(source.identifiers)
            timeline.record(
                session,
                request_id=request.id,
                action="manual_step_not_opened",
                actor=SYSTEM,
                detail=f"{source.name}: its owner finds customers by {names}, and the request holds none of them",
            )
            await email_team(
                session,
                ctx,
                "manual_step_not_opened",
                request_id=request.id,
                request=email_context(request),
                source=source.name,
                owner_identifiers=names,
            )
            continue
        task = repository.add(
            session, request_id=request.id, source=source.name, owner_email=source.owner_email, at=now
        )
        created.append(task)
        timeline.record(
            session,
            request_id=request.id,
            action="manual_step_opened",
            actor=SYSTEM,
            detail=f"{source.name}: task emailed to its owner",
        )
        await _email_owner(session, ctx, request, source)
    await session.flush()
    return created


def _known_to_owner(source: ManualSource, request: PrivacyRequest) -> dict[str, str]:
    """What finds the person in the owner's system: the identifiers the source is configured with (by default
    every one the request holds), through the same helper as a recipient's notice."""
    return customer_identifiers(
        source.identifiers,
        customer_id=request.customer_id,
        customer_email=request.customer_email,
        customer_name=request.customer_name,
        submitted_email=request.email,
    )


async def _email_owner(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, source: ManualSource
) -> None:
    known = _known_to_owner(source, request)
    matched = request.customer_id is not None
    await enqueue_email(
        session,
        kind="manual_task",
        to=source.owner_email,
        locale=source.language,
        context={
            "request": {
                "id": str(request.id),
                "type": request.type,
                "regulation": request.regulation,
                # The address the customer typed, beside the one on file: only when emails are wanted.
                "email": request.email if "email" in source.identifiers else None,
                "received_at": request.received_at,
                "due_at": request.due_at,
                "locale": request.locale,
            },
            "customer": {
                "id": known.get("customer_id"),
                "email": known.get("email") if matched else None,
                "name": known.get("name"),
            },
            "source": source.name,
            "instructions": in_language(source.instructions_for(request.type), source.language) or "",
            "task_url": cockpit_url(ctx, request.id),
            # Where the owner sends the copy an access request asks for: the privacy team, who answer the
            # customer (the service's package holds the connected systems' data only).
            "team_email": ctx.settings.privacy_team_email,
            "base_url": ctx.settings.base_url,
        },
        request_id=request.id,
        mail_from_domain=ctx.mail_domain,
        secret_key=ctx.secret_key,
        settings=ctx.settings,
    )


def task_view(task: ManualTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "request_id": task.request_id,
        "source": task.source,
        "owner_email": task.owner_email,
        "status": task.status,
        "created_at": task.created_at,
        "done_at": task.done_at,
        "done_by": task.done_by,
        "note": task.note,
    }


async def tasks_of(session: AsyncSession, request_id: uuid.UUID) -> list[dict[str, Any]]:
    return [task_view(task) for task in await repository.of_request(session, request_id)]


async def list_tasks(
    session: AsyncSession, *, status: str | None, owner_email: str | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Tasks oldest first (the longest waiting on top), keyset paged."""
    position = cursors.decode(cursor) if cursor else None
    after = Cursor(position.key, position.id) if position is not None else None
    rows = await repository.list_page(
        session, status=status, owner_email=owner_email, limit=limit, cursor=after
    )
    page = rows[:limit]
    next_cursor = (
        cursors.encode(cursors.Position(key=page[-1].created_at, id=page[-1].id))
        if len(rows) > limit
        else None
    )
    return {"items": [task_view(task) for task in page], "next_cursor": next_cursor}
