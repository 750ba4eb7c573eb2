"""PostgreSQL LISTEN: wake an idle worker as soon as another process enqueues a job."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from app.worker.loop import NOTIFY_CHANNEL

log = logging.getLogger("app.worker")


async def listen_forever(database_url: str, wake: Callable[[], None]) -> None:
    """Hold a LISTEN connection, reconnecting after failures; each notification calls ``wake``."""
    url = make_url(database_url).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    while True:
        try:
            connection = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            await asyncio.sleep(2)
            continue
        try:

            def on_notify(*_args: Any) -> None:
                wake()

            await connection.add_listener(NOTIFY_CHANNEL, on_notify)
            lost = asyncio.Event()
            connection.add_termination_listener(functools.partial(_set, lost))
            wake()  # work may have been enqueued while we were not listening
            await lost.wait()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # InterfaceError (not a PostgresError) is what a connection dropped mid-call raises: without it
            # here the task would die and the worker would silently fall back to polling.
            log.warning("LISTEN connection lost; reconnecting")
        finally:
            if not connection.is_closed():
                with contextlib.suppress(
                    OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError
                ):
                    await connection.close(timeout=2)
        await asyncio.sleep(1)  # a server that accepts then drops connections must not make this spin


def _set(event: asyncio.Event, *_args: Any) -> None:
    event.set()
