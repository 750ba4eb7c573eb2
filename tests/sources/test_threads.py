"""A blocking generator driven from async code (a SQL source's read): every item, in order, on one thread, read
ahead of the reader by at most a bound (and the item that reaches it), and always closed on that thread, however
the reader stops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator

import pytest

from app.sources.threads import iterate_in_thread


class Rows:
    """A generator of numbered batches that records what happened to it, and on which thread."""

    def __init__(self, batches: list[int], *, fail_at: int | None = None) -> None:
        self.batches = batches
        self.fail_at = fail_at
        self.produced = 0
        self.threads: set[int] = set()
        self.closed_on: int | None = None
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> Generator[list[int], None, None]:
        self.threads.add(threading.get_ident())
        try:
            for number, size in enumerate(self.batches):
                self.release.wait(10)
                if number == self.fail_at:
                    raise RuntimeError(f"the source failed at batch {number}")
                self.produced += 1
                self.threads.add(threading.get_ident())
                yield list(range(size))
        finally:
            self.closed_on = threading.get_ident()


async def test_every_item_in_order_from_one_thread_that_is_not_the_event_loops() -> None:
    rows = Rows([2, 0, 5, 1])
    read = [batch async for batch in iterate_in_thread(rows, weight=len, bound=100)]
    assert read == [[0, 1], [], [0, 1, 2, 3, 4], [0]]
    assert len(rows.threads) == 1
    assert rows.threads != {threading.get_ident()}
    assert rows.closed_on in rows.threads


async def test_the_thread_reads_at_most_a_bound_of_rows_ahead_of_the_reader() -> None:
    rows = Rows([400] * 10)
    reading = iterate_in_thread(rows, weight=len, bound=1000)
    first = await anext(reading)
    assert len(first) == 400
    # 3 batches reach the bound of 1,000 rows: the rest of the source has not been touched.
    assert rows.produced == 3
    assert sum([len(batch) async for batch in reading]) == 3600
    assert rows.produced == 10


async def test_a_reader_stopping_early_closes_the_generator_on_its_thread() -> None:
    rows = Rows([1] * 10)
    reading = iterate_in_thread(rows, bound=2)
    assert await anext(reading) == [0]
    await reading.aclose()  # type: ignore[attr-defined]
    assert rows.closed_on in rows.threads
    assert rows.produced == 2


async def test_a_reader_cancelled_mid_read_still_closes_the_generator_after_the_read() -> None:
    rows = Rows([1] * 3)
    rows.release.clear()  # the source hangs in its first read

    async def read_all() -> list[list[int]]:
        return [batch async for batch in iterate_in_thread(rows)]

    task = asyncio.create_task(read_all())
    for _ in range(250):  # until the read is under way on its thread
        if rows.threads:
            break
        await asyncio.sleep(0.02)
    assert rows.threads
    task.cancel()
    await asyncio.sleep(0.05)
    rows.release.set()  # the read under way ends; the close queued behind it then runs
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if rows.closed_on is not None:
            break
        await asyncio.sleep(0.02)
    assert rows.closed_on in rows.threads


async def test_a_failing_source_raises_to_the_reader() -> None:
    rows = Rows([1, 1, 1], fail_at=1)
    with pytest.raises(RuntimeError, match="failed at batch 1"):
        [batch async for batch in iterate_in_thread(rows, weight=len, bound=10)]
    assert rows.closed_on in rows.threads
