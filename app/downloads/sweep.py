"""The downloads' sweep step: packages whose link expired are deleted from the store and the link answers 410."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.core.context import ServiceContext
from app.downloads import repository
from app.models import Download
from app.packages import PackageError, StoreUnavailable

log = logging.getLogger("app.downloads")

BATCH = 200
# Batches one sweep goes through: past packages that keep failing, to those behind them (the rest wait for the
# next sweep, a minute later).
MAX_BATCHES = 10


async def purge_expired_packages(session: AsyncSession, ctx: ServiceContext, now: datetime) -> None:
    """Delete each expired package, then mark its download purged. One the store fails to delete stays unpurged
    (its link answers 410 all the same, having expired) and is tried again at the next sweep; the others go on.
    A store that does not answer is not asked again in this sweep: every other deletion there would wait on it
    too (minutes each, with this step's transaction open); its packages are tried again at the next sweep.
    Batches page on past the packages that failed, up to ``MAX_BATCHES``, so those that keep failing never hold
    back the ones behind them."""
    failures: list[str] = []
    away: set[str] = set()
    after = None
    for _batch in range(MAX_BATCHES):
        downloads = await repository.expired_unpurged(session, now=now, limit=BATCH, after=after)
        for download in downloads:
            await _purge(session, ctx, download, now=now, away=away, failures=failures)
        if len(downloads) < BATCH:
            break
        after = (downloads[-1].expires_at, downloads[-1].id)
    if failures:
        log.warning(
            "%d expired package(s) could not be deleted; tried again at the next sweep. First: %s",
            len(failures),
            failures[0],
        )


async def _purge(
    session: AsyncSession,
    ctx: ServiceContext,
    download: Download,
    *,
    now: datetime,
    away: set[str],
    failures: list[str],
) -> None:
    """Delete one expired package and mark its download purged; a failure is noted in ``away`` (the store did
    not answer) or ``failures`` (this package could not be deleted)."""
    holder = ctx.packages.holder(download.path)
    if holder in away:
        return
    try:
        await ctx.packages.delete(download.path)
    except StoreUnavailable as exc:
        away.add(holder)
        log.warning(
            "the package store is unavailable; its expired packages are deleted at a later sweep: %s", exc
        )
        return
    except (OSError, PackageError) as exc:
        failures.append(str(exc))
        return
    await repository.mark_purged(session, download.id, at=now)
    timeline.record(
        session,
        request_id=download.request_id,
        action="package_purged",
        actor=SYSTEM,
        detail="download link expired",
    )


HOUSEKEEPING = (purge_expired_packages,)
