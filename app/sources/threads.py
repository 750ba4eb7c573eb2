"""Running blocking work off the event loop on a thread of its own, and keeping such threads for reuse."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_DONE = object()
# Idle single-thread executors kept for the next package or collection: starting a thread per request cost
# about 5% of the worker's CPU with many small requests.
MAX_IDLE_THREADS = 8
_idle: list[ThreadPoolExecutor] = []
_idle_lock = threading.Lock()


def borrow_thread() -> ThreadPoolExecutor:
    """A single-thread executor for one piece of work's whole life; give it back with :func:`return_thread`."""
    with _idle_lock:
        if _idle:
            return _idle.pop()
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="blocking")


def return_thread(executor: ThreadPoolExecutor) -> None:
    """Keep the executor for the next borrower, or shut it down when enough are idle. Work still queued on it
    (a step that a cancellation stopped waiting for) runs before the next borrower's."""
    with _idle_lock:
        if len(_idle) < MAX_IDLE_THREADS:
            _idle.append(executor)
            return
    executor.shutdown(wait=False)


async def iterate_in_thread(
    factory: Callable[[], Generator[T, None, None]],
    *,
    weight: Callable[[T], int] = lambda _item: 1,
    bound: int = 1,
) -> AsyncIterator[T]:
    """Drive a blocking generator on one dedicated thread, yielding its items to async code.

    One thread for the generator's whole life, because database connections and server-side cursors must
    not hop between threads (sqlite3 refuses it). Closing the async iterator early closes the generator on
    that same thread, which releases its cursor and connection.

    Each hop to the thread takes items until their ``weight`` adds up to ``bound`` or the generator ends (and
    is then closed in the same hop): a customer with a few rows in each table is read in one hop, where one hop
    per item cost more than the reading (a hop wakes the event loop through a socket).
    """
    loop = asyncio.get_running_loop()
    executor = borrow_thread()
    generator: Generator[T, None, None] | None = None

    def take() -> tuple[list[T], bool]:
        """Blocking: the next items; True when the generator has ended (and is closed)."""
        nonlocal generator
        if generator is None:
            generator = factory()
        items: list[T] = []
        taken = 0
        while taken < bound:
            item = next(generator, _DONE)
            if item is _DONE:
                generator.close()
                return items, True
            items.append(item)  # type: ignore[arg-type]
            taken += weight(item)  # type: ignore[arg-type]
        return items, False

    def close() -> None:
        if generator is not None:
            generator.close()

    try:
        ended = False
        try:
            while not ended:
                items, ended = await loop.run_in_executor(executor, take)
                for item in items:
                    yield item
        finally:
            if not ended:
                # Queued behind a step a cancellation stopped waiting for, so it sees that step's generator.
                await loop.run_in_executor(executor, close)
    finally:
        return_thread(executor)
