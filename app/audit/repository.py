"""The append-only timeline of each request: who did what, when. Rows are only ever inserted; the one
change allowed is RECORDS_RETENTION removing their free-text details (``clear_details``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.models import RequestEvent

CUSTOMER = "customer"
SYSTEM = "system"


def record(
    session: AsyncSession, *, request_id: uuid.UUID, action: str, actor: str, detail: str | None = None
) -> RequestEvent:
    """Add one event to the caller's unit of work."""
    event = RequestEvent(request_id=request_id, at=clock.now(), action=action, actor=actor, detail=detail)
    session.add(event)
    return event


async def events_of(session: AsyncSession, request_id: uuid.UUID) -> Sequence[RequestEvent]:
    """A request's timeline, oldest first."""
    query = select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)
    return (await session.scalars(query)).all()


async def clear_details(session: AsyncSession, request_id: uuid.UUID) -> None:
    """Remove the free text of a request's events (it may name the person); action, actor and time stay."""
    await session.execute(
        update(RequestEvent)
        .where(RequestEvent.request_id == request_id, RequestEvent.detail.is_not(None))
        .values(detail=None)
        .execution_options(synchronize_session=False)
    )
