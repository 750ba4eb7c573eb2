"""The job table's sweep step: done and dead jobs go JOB_RETENTION after they finished."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.jobs import repository

PRUNE_BATCH = 1000


async def prune_jobs(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    await repository.delete_finished_before(session, now - ctx.settings.job_retention, limit=PRUNE_BATCH)


HOUSEKEEPING = (prune_jobs,)
