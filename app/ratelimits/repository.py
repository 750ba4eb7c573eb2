"""SQL of the shared rate-limit windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import RateLimitWindow


async def count_hit(
    connection: AsyncConnection, *, scope: str, address: str, now: datetime, window: timedelta
) -> tuple[int, datetime]:
    """Count one hit in the address's window, opening a new window when the last one ended: one atomic
    statement, so hits from any number of replicas at once are each counted once. The window's hits (this
    one included) and its start."""
    ended = RateLimitWindow.started_at <= now - window
    statement = (
        insert(RateLimitWindow)
        .values(scope=scope, address=address, started_at=now, hits=1)
        .on_conflict_do_update(
            index_elements=[RateLimitWindow.scope, RateLimitWindow.address],
            # Both read the row as it was before this statement.
            set_={
                "started_at": case((ended, now), else_=RateLimitWindow.started_at),
                "hits": case((ended, 1), else_=RateLimitWindow.hits + 1),
            },
        )
        .returning(RateLimitWindow.hits, RateLimitWindow.started_at)
    )
    hits, started_at = (await connection.execute(statement)).one()
    return int(hits), started_at


async def delete_ended(session: AsyncSession, *, started_before: datetime, limit: int) -> int:
    """Delete up to ``limit`` windows that started before ``started_before`` (oldest first); how many went."""
    key = tuple_(RateLimitWindow.scope, RateLimitWindow.address)
    oldest = (
        select(RateLimitWindow.scope, RateLimitWindow.address)
        .where(RateLimitWindow.started_at < started_before)
        .order_by(RateLimitWindow.started_at)
        .limit(limit)
    )
    result = await session.execute(
        # The outer condition again: a window that restarted meanwhile stays.
        delete(RateLimitWindow)
        .where(key.in_(oldest), RateLimitWindow.started_at < started_before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
