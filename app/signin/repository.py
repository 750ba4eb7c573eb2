"""All SQL about one-time sign-in links."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OperatorSignInLink


async def links_since(session: AsyncSession, operator_id: uuid.UUID, since: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(OperatorSignInLink)
            .where(OperatorSignInLink.operator_id == operator_id, OperatorSignInLink.created_at > since)
        )
        or 0
    )


async def add_link(session: AsyncSession, link: OperatorSignInLink) -> None:
    session.add(link)
    await session.flush()


async def usable_link_owner(session: AsyncSession, token_hash: str, *, now: datetime) -> uuid.UUID | None:
    """The operator of the unused, unexpired link with this hash."""
    return await session.scalar(
        select(OperatorSignInLink.operator_id).where(
            OperatorSignInLink.token_hash == token_hash,
            OperatorSignInLink.used_at.is_(None),
            OperatorSignInLink.expires_at > now,
        )
    )


async def mark_used(session: AsyncSession, token_hash: str, *, at: datetime) -> bool:
    """Set ``used_at`` unless set; True when this call did (of two at once, one)."""
    result = await session.execute(
        update(OperatorSignInLink)
        .where(OperatorSignInLink.token_hash == token_hash, OperatorSignInLink.used_at.is_(None))
        .values(used_at=at)
    )
    return getattr(result, "rowcount", 0) == 1
