"""The append-only timeline of each request: who did what, when.

Events are only ever inserted: the database refuses to update or delete one (migration 0003). Free text
that may name the person (an operator's reason or note, a data source's message) is stored beside its event
(``request_event_texts``); RECORDS_RETENTION clears that text (``clear_texts``), and that is the one change
the database allows there. So an event's action, actor, time and fixed detail never change."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.core import clock
from app.models import RequestEvent, RequestEventText

CUSTOMER = "customer"
SYSTEM = "system"
# session.info key: {event: the status its change left the request in}, for events recorded with ``status_after``.
STATUS_AFTER = "audit.status_after"


@dataclass(frozen=True)
class Entry:
    """One event as the timeline shows it: the fixed detail and the free text joined."""

    at: datetime
    action: str
    actor: str
    detail: str | None


def record(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    action: str,
    actor: str,
    detail: str | None = None,
    text: str | None = None,
    status_after: str | None = None,
) -> RequestEvent:
    """Add one event to the caller's unit of work.

    ``detail`` is fixed wording that names no one (it is kept for good); ``text`` is free text that may
    (it is cleared after RECORDS_RETENTION). The timeline shows them as ``"<detail>: <text>"``.
    ``status_after``: the status this change left the request in, when the same unit of work moves it on
    before its rows are flushed (a submit accepted at once): what the event's webhook reports.
    """
    event = RequestEvent(request_id=request_id, at=clock.now(), action=action, actor=actor, detail=detail)
    session.add(event)
    if status_after is not None:
        session.info.setdefault(STATUS_AFTER, {})[event] = status_after
    if text is not None:
        session.add(RequestEventText(event=event, request_id=request_id, text=text))
    return event


def status_after(session: AsyncSession | Session, event: RequestEvent) -> str | None:
    """The status ``event``'s change left the request in, if it was recorded with one (taken: asked once)."""
    recorded: dict[RequestEvent, str] | None = session.info.get(STATUS_AFTER)
    return None if recorded is None else recorded.pop(event, None)


def forget(session: AsyncSession | Session, rows: Iterable[object]) -> None:
    """Drop what was recorded about ``rows`` (events taken out of the unit of work before its flush)."""
    recorded: dict[RequestEvent, str] | None = session.info.get(STATUS_AFTER)
    if recorded:
        for row in rows:
            if isinstance(row, RequestEvent):
                recorded.pop(row, None)


def _joined(detail: str | None, text: str | None) -> str | None:
    if detail is None or text is None:
        return text if detail is None else detail
    return f"{detail}: {text}"


async def events_of(session: AsyncSession, request_id: uuid.UUID) -> list[Entry]:
    """A request's timeline, oldest first."""
    query = (
        select(
            RequestEvent.at,
            RequestEvent.action,
            RequestEvent.actor,
            RequestEvent.detail,
            RequestEventText.text,
        )
        .outerjoin(RequestEventText, RequestEventText.event_id == RequestEvent.id)
        .where(RequestEvent.request_id == request_id)
        .order_by(RequestEvent.id)
    )
    return [
        Entry(at=row.at, action=row.action, actor=row.actor, detail=_joined(row.detail, row.text))
        for row in await session.execute(query)
    ]


async def clear_texts(session: AsyncSession, request_id: uuid.UUID) -> None:
    """Clear the free text of a request's events (it may name the person); the events themselves stay."""
    await session.execute(
        update(RequestEventText)
        .where(RequestEventText.request_id == request_id, RequestEventText.text.is_not(None))
        .values(text=None)
        .execution_options(synchronize_session=False)
    )
