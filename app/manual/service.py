"""Manual steps: open a task per manual source for a request, email its owner, list and show tasks."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core import clock
from app.core.context import ServiceContext
from app.core.errors import ValidationFailed
from app.manual import repository
from app.manual.repository import Cursor
from app.models import ManualTask, PrivacyRequest
from app.notifications.outbox import enqueue_email
from app.sources.config import ManualSource, in_language


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


async def _email_owner(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, source: ManualSource
) -> None:
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
                "email": request.email,
                "received_at": request.received_at,
                "due_at": request.due_at,
                "locale": request.locale,
            },
            # What finds the person in the owner's system: every identifier the request has.
            "customer": {
                "id": request.customer_id,
                "email": request.customer_email,
                "name": request.customer_name,
            },
            "source": source.name,
            "instructions": in_language(source.instructions, source.language) or "",
            "task_url": cockpit_url(ctx, request.id),
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
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_page(
        session, status=status, owner_email=owner_email, limit=limit, cursor=after
    )
    page = rows[:limit]
    next_cursor = encode_cursor(Cursor(page[-1].created_at, page[-1].id)) if len(rows) > limit else None
    return {"items": [task_view(task) for task in page], "next_cursor": next_cursor}


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"k": clock.as_utc(cursor.created_at).isoformat(), "i": str(cursor.id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(data, dict) or set(data) != {"k", "i"}:
            raise ValueError("not a cursor object")
        if not all(isinstance(value, str) for value in data.values()):
            raise ValueError("cursor fields are not strings")
        cursor = Cursor(created_at=clock.as_utc(datetime.fromisoformat(data["k"])), id=uuid.UUID(data["i"]))
        if encode_cursor(cursor) != text.rstrip("="):
            raise ValueError("not a cursor this API wrote")
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise ValidationFailed(
            "The cursor is not one this API returned.",
            fields=[{"field": "cursor", "detail": "not a cursor from this API"}],
        ) from None
    return cursor
