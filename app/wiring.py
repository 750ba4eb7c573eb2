"""The worker's jobs, wired to the services that do them."""

from __future__ import annotations

import functools

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.context import ServiceContext
from app.deadlines.sweep import run_sweep
from app.notifications.jobs import run_send_email
from app.notifications.transport import Transport, transport_from_settings
from app.requests.access_package import run_access_package
from app.requests.actions import ACCESS_PACKAGE, ERASURE
from app.requests.erasure import run_erasure
from app.requests.failure import on_job_dead
from app.worker.loop import Handler, Worker


def build_worker(
    ctx: ServiceContext, sessionmaker: async_sessionmaker[AsyncSession], *, transport: Transport | None = None
) -> Worker:
    """A worker with every job kind and the deadline sweep, configured from the settings."""
    transport = transport or transport_from_settings(ctx.settings)
    handlers: dict[str, Handler] = {
        "send_email": functools.partial(
            run_send_email, ctx=ctx, sessionmaker=sessionmaker, transport=transport
        ),
        ACCESS_PACKAGE: functools.partial(run_access_package, ctx=ctx, sessionmaker=sessionmaker),
        ERASURE: functools.partial(run_erasure, ctx=ctx, sessionmaker=sessionmaker),
    }

    async def periodic() -> None:
        await run_sweep(sessionmaker, ctx)

    settings = ctx.settings
    worker = Worker(
        sessionmaker=sessionmaker,
        handlers=handlers,
        on_dead=functools.partial(on_job_dead, ctx=ctx),
        poll_interval=settings.worker_poll_interval,
        lease=settings.job_lease,
        retry_base=settings.job_retry_base,
        max_attempts=settings.job_max_attempts,
        periodic=periodic,
    )
    worker.closers.append(transport.aclose)
    return worker
