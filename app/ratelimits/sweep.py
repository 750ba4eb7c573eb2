"""The shared rate limits' sweep step: windows that ended are deleted, in batches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.core.ratelimit import WINDOW
from app.ratelimits import repository

# Windows deleted per pass; the sweep runs every poll interval, so this keeps up with 5,000 new addresses a
# second.
PRUNE_BATCH = 5000


async def prune_rate_limit_windows(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    await repository.delete_ended(session, started_before=now - WINDOW, limit=PRUNE_BATCH)


HOUSEKEEPING = (prune_rate_limit_windows,)
