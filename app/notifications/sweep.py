"""The outbox's sweep step: sent and failed emails go JOB_RETENTION after they were written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.notifications import repository

PRUNE_BATCH = 1000


async def prune_emails(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    await repository.delete_finished_before(session, now - ctx.settings.job_retention, limit=PRUNE_BATCH)


HOUSEKEEPING = (prune_emails,)
