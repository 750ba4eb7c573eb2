"""Async streams of a package's pieces: reading ahead of the writer, and errors before the first byte of an
HTTP answer becoming proper answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def prefetched(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Take the first chunk now (so its errors are raised here), then hand out the rest as it comes."""
    try:
        first = await anext(chunks, None)
    except BaseException:
        await aclose(chunks)
        raise

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await aclose(chunks)

    return rest()


async def read_ahead(items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """The items, the next one being read while the caller works on the current one.

    Close it (``contextlib.aclosing``) when stopping early: the read under way is cancelled and ``items`` closed.
    """
    ahead: asyncio.Future[T] | None = None
    try:
        ahead = asyncio.ensure_future(anext(items))
        while True:
            try:
                item = await ahead
            except StopAsyncIteration:
                ahead = None
                return
            ahead = asyncio.ensure_future(anext(items))
            yield item
    finally:
        if ahead is not None:
            ahead.cancel()
            await asyncio.wait({ahead})
            if not ahead.cancelled():
                ahead.exception()  # retrieved: the error that matters is already propagating
        await aclose(items)


async def aclose(chunks: AsyncIterable[object]) -> None:
    """Close a stream that can be closed (an async generator); any other iterable has nothing to release."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
