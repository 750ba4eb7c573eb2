"""All SQL about recipient notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PrivacyRequest, RecipientNotice

PENDING = "pending"
DELIVERED = "delivered"
EMAILED = "emailed"
FAILED = "failed"


async def add_if_new(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a notice unless its (request, recipient) has one; True when this one went in.

    ``INSERT ... ON CONFLICT DO NOTHING``: on PostgreSQL a concurrent insert of the same pair makes this wait
    for it to commit (then False) or roll back (then this one goes in), so two runs never both tell someone.
    """
    table = cast(Table, RecipientNotice.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    statement = insert.values(**values).on_conflict_do_nothing(index_elements=["request_id", "recipient"])
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def of_request(session: AsyncSession, request_id: uuid.UUID) -> list[RecipientNotice]:
    query = (
        select(RecipientNotice)
        .where(RecipientNotice.request_id == request_id)
        .order_by(RecipientNotice.created_at, RecipientNotice.recipient)
    )
    return list((await session.scalars(query)).all())


async def get(session: AsyncSession, notice_id: uuid.UUID) -> RecipientNotice | None:
    return await session.get(RecipientNotice, notice_id)


async def by_email(session: AsyncSession, email_id: uuid.UUID) -> RecipientNotice | None:
    return await session.scalar(select(RecipientNotice).where(RecipientNotice.email_id == email_id))


async def finish(
    session: AsyncSession, notice_id: uuid.UUID, *, status: str, at: datetime | None = None
) -> bool:
    """A notice not yet finished is delivered or failed; its sealed body goes either way. False when it was
    already finished (nothing changed)."""
    result = await session.execute(
        update(RecipientNotice)
        .where(RecipientNotice.id == notice_id, RecipientNotice.status.in_((PENDING, EMAILED)))
        .values(status=status, delivered_at=at, body=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_email(session: AsyncSession, notice_id: uuid.UUID, email_id: uuid.UUID) -> None:
    await session.execute(
        update(RecipientNotice).where(RecipientNotice.id == notice_id).values(email_id=email_id)
    )


async def request_of(session: AsyncSession, request_id: uuid.UUID) -> PrivacyRequest | None:
    """The privacy request a notice belongs to (to alert the team about it)."""
    return await session.get(PrivacyRequest, request_id)
