"""Files the service writes on worker threads (emails in the mailbox, packages in the store), with plain ``os``
calls: each system call lets go of the interpreter's lock and takes it back, which costs most while the event loop
is busy, and a buffered file object adds calls of its own."""

from __future__ import annotations

import os
from pathlib import Path


def open_private(path: Path, flags: int) -> int:
    """Blocking: ``path`` opened for writing (with ``flags`` besides: ``os.O_EXCL``, ``os.O_TRUNC``), created
    readable by the owner only, its directory made only when the open finds it missing; the descriptor."""
    flags |= os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o600)


def write_all(fd: int, data: bytes) -> None:
    """Blocking: all of ``data`` written to ``fd`` (a short write is continued; a full disk raises)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
