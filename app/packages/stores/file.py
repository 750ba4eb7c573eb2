"""The file store: packages as files in ``PACKAGE_DIR`` (a volume every replica and worker mounts)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from app.packages.stores.base import StoredObject

# Bytes read per thread hop: one hop per small read would cost more than the read itself.
READ_SIZE = 1024 * 1024


class FileStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def put(self, name: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        path = self.directory / name
        size = await write_file(path, chunks)
        return StoredObject(location=str(path), size=size)

    def read(self, location: str) -> AsyncIterator[bytes]:
        # A missing file raises FileNotFoundError, an OSError like any other failure to read the volume.
        return read_file(Path(location))

    async def delete(self, location: str) -> None:
        await asyncio.to_thread(Path(location).unlink, missing_ok=True)

    async def aclose(self) -> None:
        return None


async def write_file(path: Path, chunks: AsyncIterable[bytes]) -> int:
    """Write the chunks into ``path`` (mode 0600, written to a temp name then renamed, so a reader never sees
    half a package); the number of bytes written."""
    partial = path.with_name(path.name + ".partial")
    out = await asyncio.to_thread(_create, partial)
    size = 0
    try:
        finished = False
        try:
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk)
                size += len(chunk)
            finished = True
        finally:
            # Closed and put in place in one hop to a thread: each hop costs a wake-up of the event loop.
            await asyncio.to_thread(_close, out, partial, path if finished else None)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _create(path: Path) -> BinaryIO:
    """Blocking: open ``path`` for writing, readable by the owner only (its directory made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _close(out: BinaryIO, partial: Path, path: Path | None) -> None:
    """Blocking: close the file written as ``partial``, then rename it to ``path`` (None: leave it)."""
    out.close()
    if path is not None:
        os.replace(partial, path)


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes, :data:`READ_SIZE` at a time."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, READ_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(source.close)
