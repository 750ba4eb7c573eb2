"""Running a source's blocking database work off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


async def iterate_in_thread(factory: Callable[[], Generator[T, None, None]]) -> AsyncIterator[T]:
    """Drive a blocking generator on one dedicated thread, yielding its items to async code.

    One thread for the generator's whole life, because database connections and server-side cursors must
    not hop between threads (sqlite3 refuses it). Closing the async iterator early closes the generator on
    that same thread, which releases its cursor and connection.
    """
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="source")
    try:
        generator = await loop.run_in_executor(executor, factory)
        try:
            while True:
                item = await loop.run_in_executor(executor, next, generator, _DONE)
                if item is _DONE:
                    return
                yield item  # type: ignore[misc]
        finally:
            await loop.run_in_executor(executor, generator.close)
    finally:
        executor.shutdown(wait=False)
