"""The file store writing a package: a failure or a cancellation midway leaves no file, no half of one, and no
descriptor open; and the error the caller sees is the disk's own."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.packages.stores.file import WRITE_SIZE, FileStore


def open_descriptors() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def names_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def chunks(count: int, *, then: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for i in range(count):
        yield bytes([65 + i]) * WRITE_SIZE  # each a hop of its own
    if then is not None:
        await then.wait()


async def test_a_disk_full_midway_raises_the_disks_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        nonlocal writes
        writes += 1
        if writes == 2:  # the second megabyte does not fit
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    before = open_descriptors()
    monkeypatch.setattr(os, "write", write)
    with pytest.raises(OSError, match="No space left") as caught:
        await FileStore(tmp_path).put("package.zip.enc", chunks(3))
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC  # not a second close's EBADF hiding it
    assert names_in(tmp_path) == []
    assert open_descriptors() == before


async def test_a_package_cancelled_while_a_write_is_under_way_leaves_nothing_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real_write = os.write

    def write(fd: int, data: Any) -> int:
        started.set()
        release.wait(5)  # a slow disk: the write is under way when the writer is cancelled
        return real_write(fd, data)

    before = open_descriptors()
    monkeypatch.setattr(os, "write", write)
    writing = asyncio.ensure_future(
        FileStore(tmp_path).put("package.zip.enc", chunks(2, then=asyncio.Event()))
    )
    await asyncio.to_thread(started.wait, 5)
    writing.cancel()
    # A file opened meanwhile must not be closed under its owner, nor receive the package's bytes.
    other = tmp_path / "other"
    with other.open("wb") as handle:
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await writing
        await asyncio.sleep(0.1)  # the thread's queued steps, if any, finish
        handle.write(b"mine")
    monkeypatch.undo()
    assert other.read_bytes() == b"mine"
    assert names_in(tmp_path) == ["other"]
    assert open_descriptors() == before
