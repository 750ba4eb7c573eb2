"""The downloads' sweep step: packages whose link expired are removed from disk and the link answers 410."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core.context import ServiceContext
from app.downloads import repository

BATCH = 200


async def purge_expired_packages(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    for download in await repository.expired_unpurged(session, now=now, limit=BATCH):
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(Path(download.path).unlink)
        await repository.mark_purged(session, download.id, at=now)
        timeline.record(
            session,
            request_id=download.request_id,
            action="package_purged",
            actor=SYSTEM,
            detail="download link expired",
        )


STEPS = (purge_expired_packages,)
