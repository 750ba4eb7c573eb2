"""All SQL about API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def all_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def revoke(session: AsyncSession, key: ApiKey, *, at: datetime) -> ApiKey:
    """Set ``revoked_at`` unless it is set (the first revocation's time stays); the key as it now is."""
    await session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    await session.refresh(key)
    return key


async def find_active(session: AsyncSession, key_hash: str) -> tuple[uuid.UUID, str, str] | None:
    """``(id, name, role)`` of the unrevoked key with this hash."""
    result = await session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.role).where(
            ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
        )
    )
    row = result.first()
    return None if row is None else (row[0], row[1], row[2])
