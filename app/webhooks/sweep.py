"""The webhooks' sweep step: events whose deliveries are all finished go JOB_RETENTION after they were raised,
with their deliveries and attempts (like finished jobs and sent emails)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.webhooks import repository

PRUNE_BATCH = 1000


async def prune_deliveries(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    await repository.delete_finished_events_before(
        session, now - ctx.settings.job_retention, limit=PRUNE_BATCH
    )


HOUSEKEEPING = (prune_deliveries,)
