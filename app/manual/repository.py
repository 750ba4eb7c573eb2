"""All SQL about manual tasks, and the request row lock that orders their completion against the automatic
work's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ManualTask, PrivacyRequest

OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID


async def lock_request(session: AsyncSession, request_id: uuid.UUID) -> PrivacyRequest | None:
    """The request as it is now, its row locked until the transaction ends (PostgreSQL ``FOR UPDATE``; on
    SQLite every writing transaction already holds the database's one write lock, ``BEGIN IMMEDIATE``).

    Whoever finishes a part of a request (the automatic work, a manual task) takes this lock before counting
    what is left, so of two parts finishing at once the second sees the first and exactly one completes it.
    """
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def sources_of(session: AsyncSession, request_id: uuid.UUID) -> set[str]:
    query = select(ManualTask.source).where(ManualTask.request_id == request_id)
    return set((await session.scalars(query)).all())


def add(
    session: AsyncSession, *, request_id: uuid.UUID, source: str, owner_email: str, at: datetime
) -> ManualTask:
    task = ManualTask(
        id=uuid.uuid4(),
        request_id=request_id,
        source=source,
        owner_email=owner_email,
        status=OPEN,
        created_at=at,
    )
    session.add(task)
    return task


# Built once: every automatic access request asks it as its package is recorded.
_DONE_SOURCES = (
    select(ManualTask.source)
    .where(ManualTask.request_id == bindparam("request_id"), ManualTask.status == DONE)
    .order_by(ManualTask.source)
)


async def done_sources(session: AsyncSession, request_id: uuid.UUID) -> list[str]:
    """The sources whose task of the request was marked done, by name."""
    return list((await session.scalars(_DONE_SOURCES, {"request_id": request_id})).all())


async def done_sources_of(
    session: AsyncSession, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """:func:`done_sources` of several requests in one query: {request id: source names} (none: left out)."""
    query = (
        select(ManualTask.request_id, ManualTask.source)
        .where(ManualTask.request_id.in_(request_ids), ManualTask.status == DONE)
        .order_by(ManualTask.source)
    )
    done: dict[uuid.UUID, list[str]] = {}
    for request_id, source in (await session.execute(query)).all():
        done.setdefault(request_id, []).append(source)
    return done


async def count_open(session: AsyncSession, request_id: uuid.UUID) -> int:
    query = select(func.count()).where(ManualTask.request_id == request_id, ManualTask.status == OPEN)
    return int((await session.scalar(query)) or 0)


async def count_all_open(session: AsyncSession) -> int:
    return int((await session.scalar(select(func.count()).where(ManualTask.status == OPEN))) or 0)


async def of_request(session: AsyncSession, request_id: uuid.UUID) -> list[ManualTask]:
    query = (
        select(ManualTask)
        .where(ManualTask.request_id == request_id)
        .order_by(ManualTask.created_at, ManualTask.source)
    )
    return list((await session.scalars(query)).all())


async def open_of_requests(
    session: AsyncSession, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ManualTask]]:
    """The open tasks of each request (requests without one are left out)."""
    if not request_ids:
        return {}
    query = (
        select(ManualTask)
        .where(ManualTask.request_id.in_(request_ids), ManualTask.status == OPEN)
        .order_by(ManualTask.source)
    )
    out: dict[uuid.UUID, list[ManualTask]] = {}
    for task in (await session.scalars(query)).all():
        out.setdefault(task.request_id, []).append(task)
    return out


async def get(session: AsyncSession, *, request_id: uuid.UUID, task_id: uuid.UUID) -> ManualTask | None:
    query = (
        select(ManualTask)
        .where(ManualTask.id == task_id, ManualTask.request_id == request_id)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(query)).first()


async def mark_done(
    session: AsyncSession, task_id: uuid.UUID, *, at: datetime, by: str, note: str
) -> ManualTask:
    """Open -> done. The caller holds the request's row lock (:func:`lock_request`) and has read the task
    open under it, so no racer can have changed it meanwhile."""
    result = await session.scalars(
        update(ManualTask)
        .where(ManualTask.id == task_id, ManualTask.status == OPEN)
        .values(status=DONE, done_at=at, done_by=by, note=note)
        .returning(ManualTask)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.one()


async def cancel_open(session: AsyncSession, request_id: uuid.UUID) -> list[str]:
    """Cancel the request's open tasks; the sources whose tasks were cancelled."""
    result = await session.scalars(
        update(ManualTask)
        .where(ManualTask.request_id == request_id, ManualTask.status == OPEN)
        .values(status=CANCELLED)
        .returning(ManualTask.source)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.all())


async def list_page(
    session: AsyncSession,
    *,
    status: str | None,
    owner_email: str | None,
    limit: int,
    cursor: Cursor | None,
) -> list[ManualTask]:
    """Tasks oldest first, keyset paged on (created_at, id); ``limit`` + 1 rows tell whether more follow."""
    query = select(ManualTask)
    if status is not None:
        query = query.where(ManualTask.status == status)
    if owner_email is not None:
        query = query.where(ManualTask.owner_email == owner_email.lower())
    if cursor is not None:
        query = query.where(tuple_(ManualTask.created_at, ManualTask.id) > (cursor.created_at, cursor.id))
    query = query.order_by(ManualTask.created_at, ManualTask.id).limit(limit + 1)
    return list((await session.scalars(query)).all())


async def clear_notes(session: AsyncSession, request_id: uuid.UUID, *, replacement: str) -> None:
    """RECORDS_RETENTION: the notes people wrote may name the person; who did what, and when, stay."""
    await session.execute(
        update(ManualTask)
        .where(ManualTask.request_id == request_id, ManualTask.note.is_not(None))
        .values(note=replacement)
        .execution_options(synchronize_session=False)
    )
