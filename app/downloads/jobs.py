"""Remove a revoked package from the store: a job written in the erasure's transaction, so a package the store
fails to delete (S3 away, a volume read-only) is tried again with backoff instead of staying in the bucket."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.context import ServiceContext
from app.jobs import repository as jobs
from app.jobs.errors import PermanentError
from app.models import Job
from app.packages import PackageError

PURGE_PACKAGE = "purge_package"
# An erased customer's package must not outlive a store outage of a few hours (a night, a weekend's incident):
# the job is retried from JOB_RETRY_BASE on, each wait at most PURGE_MAX_DELAY, for PURGE_RETRY_FOR.
PURGE_RETRY_FOR = timedelta(days=7)
PURGE_MAX_DELAY = timedelta(hours=1)


async def enqueue_purge(session: AsyncSession, *, location: str, request_id: uuid.UUID) -> Job:
    """Queue the removal of the package at ``location``, in the caller's transaction."""
    return await jobs.enqueue(session, PURGE_PACKAGE, {"location": location}, request_id=request_id)


async def run_purge_package(session: AsyncSession, job: Job, *, ctx: ServiceContext) -> None:
    """Delete the package (done when it is already gone). ``OSError`` and ``StoreUnavailable`` propagate, so
    the worker retries; a location no store can read cannot get better."""
    try:
        await ctx.packages.delete(str(job.payload["location"]))
    except PackageError as exc:
        raise PermanentError(str(exc)) from None
