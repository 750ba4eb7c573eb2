"""The sweep: the domains' periodic steps (deadlines, expiry, purges, retention), run by the worker.

Each step runs in its own transaction, so one that fails (a damaged package directory, a bad row) is logged and
rolled back while the others still run; on PostgreSQL each step is taken by one worker at a time.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.context import ServiceContext
from app.core.db import try_advisory_lock, unit_of_work

log = logging.getLogger("app.worker.sweep")

SweepStep = Callable[[AsyncSession, ServiceContext, datetime], Awaitable[None]]


def _lock_key(step: SweepStep) -> int:
    """A stable advisory-lock key per step (the same in every worker process)."""
    name = f"{step.__module__}.{getattr(step, '__qualname__', repr(step))}"
    return zlib.crc32(name.encode())


async def run_sweep(
    sessionmaker: async_sessionmaker[AsyncSession], ctx: ServiceContext, steps: Sequence[SweepStep]
) -> None:
    """Run every step once. A database that cannot be reached ends the pass (the worker logs it and tries
    again at its next poll)."""
    for step in steps:
        try:
            async with unit_of_work(sessionmaker) as session:
                if not await try_advisory_lock(session, _lock_key(step)):
                    continue  # another worker runs this step now
                await step(session, ctx, clock.now())
        except (OperationalError, InterfaceError, ConnectionError, TimeoutError):
            raise
        except Exception:
            log.exception("sweep step %s failed; the other steps still run", step.__name__)
