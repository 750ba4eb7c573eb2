"""A zip archive handed out as it is written, never held whole.

:class:`zipfile.ZipFile` writes to an output that cannot seek by putting each entry's sizes and checksum in a
data descriptor after its data (supported since Python 3.5), so the archive's bytes never need rewriting: they
go to a buffer that the caller empties as it goes.
"""

from __future__ import annotations

import zipfile
from typing import IO

# Buffered archive bytes are handed out once there are this many.
CHUNK = 64 * 1024
# zlib level for the entries: on this kind of text level 3 compresses about twice as fast as the default 6,
# for a package some 10% larger.
COMPRESSLEVEL = 3


class _Sink:
    """ZipFile's output: a write-only file without ``tell`` or ``seek``, whose bytes wait to be taken."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class ZipStream:
    """Entries are opened, written and closed one at a time; :meth:`ready` and :meth:`close` hand out the
    archive's bytes written since the last call. Blocking: use it from one thread at a time."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._archive = zipfile.ZipFile(
            self._sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL
        )

    def open(self, name: str) -> IO[bytes]:
        """A new entry to write into; close it (or use it as a context manager) before the next one.

        ``force_zip64``: the entry's size is not known in advance and may pass 2 GiB.
        """
        return self._archive.open(name, "w", force_zip64=True)

    def ready(self) -> bytes:
        """The bytes written since the last call, once they fill a chunk; else nothing yet."""
        return self.take() if len(self._sink.buffer) >= CHUNK else b""

    def take(self) -> bytes:
        """Every byte written since the last call."""
        data = bytes(self._sink.buffer)
        self._sink.buffer.clear()
        return data

    def close(self) -> bytes:
        """Write the archive's central directory; returns the last bytes. Closing twice does nothing more."""
        self._archive.close()
        return self.take()
