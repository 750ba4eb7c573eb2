"""The file store: packages as files in ``PACKAGE_DIR`` (a volume every replica and worker mounts)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from app.core.files import open_private, write_all
from app.packages.stores.base import StoredObject
from app.sources.threads import borrow_thread, return_thread

# Bytes read per thread hop: one hop per small read would cost more than the read itself.
READ_SIZE = 1024 * 1024
# Bytes gathered before a hop to a thread writes them, for the same reason (each hop wakes a thread, which then
# waits for the interpreter's lock, and the event loop).
WRITE_SIZE = 1024 * 1024


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
    half a package); the number of bytes written.

    Every step runs on one borrowed thread, in order: a step that a cancellation stopped waiting for is still
    under way there, and the closing step queues behind it (never closing a descriptor a write is using, nor
    leaving one a first step opened)."""
    output = _Output(path.with_name(path.name + ".partial"))
    loop = asyncio.get_running_loop()
    thread = borrow_thread()
    held = bytearray()
    size = 0
    try:
        finished = False
        try:
            async for chunk in chunks:
                held += chunk
                size += len(chunk)
                if len(held) >= WRITE_SIZE:
                    await loop.run_in_executor(thread, output.write, bytes(held))
                    held.clear()
            finished = True
        finally:
            # The rest written, closed and put in place in one hop: a small package is created, written and
            # renamed in that one hop.
            await loop.run_in_executor(thread, output.finish, bytes(held), path if finished else None)
    except BaseException:
        output.partial.unlink(missing_ok=True)
        raise
    finally:
        return_thread(thread)
    return size


class _Output:
    """Blocking: the file being written as ``partial``, created (readable by the owner only, its directory made if
    missing) at the first write, with plain ``os`` calls (``app.core.files``). Its descriptor is closed by
    :meth:`finish` alone."""

    def __init__(self, partial: Path) -> None:
        self.partial = partial
        self._fd: int | None = None

    def write(self, data: bytes) -> None:
        """Append ``data``; an error (a full disk) leaves the file open for :meth:`finish` to close."""
        if self._fd is None:
            self._fd = open_private(self.partial, os.O_TRUNC)
        write_all(self._fd, data)

    def finish(self, data: bytes, path: Path | None) -> None:
        """Write the last ``data``, close the file and rename it to ``path``; with ``path`` None (the stream failed)
        only close what was opened. The file is closed however this ends."""
        try:
            if path is not None:
                self.write(data)
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
        if path is not None:
            os.replace(self.partial, path)


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes, :data:`READ_SIZE` at a time."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, READ_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(source.close)
