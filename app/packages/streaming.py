"""Streaming a package or export to an HTTP answer: errors before the first byte become proper answers."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def prefetched(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Take the first chunk now (so its errors are raised here), then hand out the rest as it comes."""
    try:
        first = await anext(chunks, None)
    except BaseException:
        await _close(chunks)
        raise

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await _close(chunks)

    return rest()


async def _close(chunks: AsyncIterator[bytes]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
