"""The file store: packages as files in ``PACKAGE_DIR`` (a volume every replica and worker mounts)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from app.packages.stores.base import StoredObject

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
    half a package); the number of bytes written."""
    partial = path.with_name(path.name + ".partial")
    out: int | None = None
    held = bytearray()
    size = 0
    try:
        finished = False
        try:
            async for chunk in chunks:
                held += chunk
                size += len(chunk)
                if len(held) >= WRITE_SIZE:
                    out = await asyncio.to_thread(_write, out, partial, bytes(held))
                    held.clear()
            finished = True
        finally:
            # The rest written, closed and put in place in one hop to a thread: a small package is created,
            # written and renamed in that one hop.
            await asyncio.to_thread(_finish, out, partial, bytes(held), path if finished else None)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size


def _write(out: int | None, partial: Path, data: bytes) -> int:
    """Blocking: append ``data`` to the file being written as ``partial`` (created, readable by the owner only,
    its directory made if missing, when ``out`` is None); its descriptor.

    Plain ``os`` calls: each system call lets go of the interpreter's lock and takes it back, which costs most
    while the event loop is busy; a buffered file object made three more calls to open, and the directory was
    made sure of before each package."""
    if out is None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            out = os.open(partial, flags, 0o600)
        except FileNotFoundError:  # PACKAGE_DIR does not exist yet
            partial.parent.mkdir(parents=True, exist_ok=True)
            out = os.open(partial, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
    except BaseException:
        os.close(out)  # a full disk: the caller removes the partial file
        raise
    return out


def _finish(out: int | None, partial: Path, data: bytes, path: Path | None) -> None:
    """Blocking: write the last ``data``, close the file written as ``partial`` and rename it to ``path``; with
    ``path`` None (the stream failed) only close what was opened."""
    if path is None:
        if out is not None:
            os.close(out)
        return
    out = _write(out, partial, data)
    os.close(out)
    os.replace(partial, path)


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """The file's bytes, :data:`READ_SIZE` at a time."""
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, READ_SIZE):
            yield chunk
    finally:
        await asyncio.to_thread(source.close)
