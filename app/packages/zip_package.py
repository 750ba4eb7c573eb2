"""The zip package: ``data.json``, one CSV per entity as ``<source>/<entity>.csv``, and ``report.html``.

Nothing holds all of a customer's rows: ``data.json`` is compressed into the zip as the records arrive, while
each entity's CSV rows are spooled (in memory while small, then to a temp file); the CSVs follow from those, then ``report.html``
(which shows the first :data:`REPORT_ROWS` records of each entity). The zip's bytes are handed out as they
are produced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, aclosing
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from app.packages.csv_spool import IN_MEMORY, Spool
from app.packages.data_json import DataJson
from app.packages.report_html import REPORT_ROWS, Reader, report_html
from app.packages.streaming import read_ahead
from app.packages.zip_stream import CHUNK, ZipStream
from app.sources.base import Identity
from app.sources.service import DataSources
from app.sources.threads import borrow_thread, return_thread

T = TypeVar("T")
# A package of this many records or fewer is built on the event loop (see stream_zip).
SMALL_PACKAGE_ROWS = 100


class ZipPackage:
    """The package's entries in order: ``data.json`` first, written as batches of records are added, then the
    CSVs and ``report.html`` when :meth:`finish` is run. Blocking: use it from one thread at a time."""

    def __init__(
        self,
        directory: Path | None,
        names: dict[str, list[str]],
        *,
        request: dict[str, Any],
        customer: dict[str, Any] | None,
        reader: Reader | None = None,
    ) -> None:
        self.spool = Spool(directory, names, samples=REPORT_ROWS)
        self._request = request
        self._customer = customer
        self._reader = reader
        self._zip = ZipStream()
        self._document = DataJson(names, request=request, customer=customer)
        self._data_json: IO[bytes] | None = self._zip.open("data.json")
        self._data_json.write(self._document.start())

    def add(self, source: str, entity: str, records: list[dict[str, Any]]) -> bytes:
        """Add a batch of records; returns zip bytes ready to send (often none yet)."""
        assert self._data_json is not None, "records added after finish()"
        self._data_json.write(self._document.records(source, entity, records))
        self.spool.add(source, entity, records)
        return self._zip.ready()

    def finish(self, describe: list[dict[str, Any]]) -> Generator[bytes, None, None]:
        """The rest of the zip: the end of ``data.json``, the CSVs, ``report.html`` and the directory."""
        assert self._data_json is not None, "finish() run twice"
        self._data_json.write(self._document.finish())
        self._close_data_json()
        for source, entity in self.spool.order:
            with self._zip.open(f"{source}/{entity}.csv") as entry:
                for block in self.spool.csv_chunks(source, entity):
                    entry.write(block)
                    yield self._zip.ready()
        page = report_html(
            self.spool, describe, request=self._request, customer=self._customer, reader=self._reader
        )
        with self._zip.open("report.html") as entry:
            for block in _blocks(page):
                entry.write(block)
                if chunk := self._zip.ready():
                    yield chunk
        yield self._zip.close()

    def close(self) -> None:
        """Close the zip. A package left unfinished (a source failed, the reader went away) is ended as a
        valid zip in the buffer, and those bytes are dropped: nobody is reading them any more."""
        self._close_data_json()
        self._zip.close()
        self.spool.close()

    def _close_data_json(self) -> None:
        if self._data_json is not None:
            self._data_json.close()
            self._data_json = None


def _blocks(pieces: Iterator[str], size: int = CHUNK) -> Iterator[bytes]:
    """The template's pieces (a few hundred per page, most a few characters) joined into blocks of at least
    ``size`` characters, encoded: each write into a zip entry runs its checksum and compressor once, so a page
    costs a few writes, not hundreds."""
    held: list[str] = []
    length = 0
    for piece in pieces:
        held.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(held).encode()
            held, length = [], 0
    if held:
        yield "".join(held).encode()


async def stream_zip(
    sources: DataSources,
    identity: Identity,
    *,
    request: dict[str, Any],
    customer: dict[str, Any] | None,
    reader: Reader | None = None,
    batches: AsyncIterator[tuple[str, str, list[dict[str, Any]]]] | None = None,
) -> AsyncIterator[bytes]:
    """The zip package for the identity, as chunks, with memory bounded by one batch of rows; ``report.html``
    is written for ``reader`` (the request's language, ``TIMEZONE``, the brand).

    The next batch is read from the sources while the current one is written to the package. ``batches``: the
    identity's records already being read (``sources.collect_batches``, as a caller that looked at the first
    ones hands them on), instead of a read of its own; closed with the package.
    """
    loop = asyncio.get_running_loop()
    # A small package (SMALL_PACKAGE_ROWS records or fewer, holding no more than a spool keeps in memory) is
    # built on the event loop: a few hundred microseconds of computing in memory, where each hop to a thread wakes
    # that thread, which then waits for the interpreter's lock, and the event loop through a socket (with the
    # files written in fewer system calls, this cut a worker's CPU per small access request by about a sixth,
    # measured). Nothing it does there touches a disk: its spools stay in memory until it moves to its thread.
    # From the step that makes it larger on, one thread does all the package's blocking work (temp files,
    # compression) in order: the clean-up after a cancellation waits for the step under way instead of racing it.
    thread: ThreadPoolExecutor | None = None
    rows = 0
    package: ZipPackage | None = None
    rest: Generator[bytes, None, None] | None = None
    closed = False

    async def step(call: Callable[[], T], records: int = 0) -> T:
        """``call`` on the event loop while the package is small, else on the package's thread."""
        nonlocal thread, rows
        rows += records
        if thread is None and rows <= SMALL_PACKAGE_ROWS and not large():
            return call()
        if thread is None:
            thread = borrow_thread()
        return await loop.run_in_executor(thread, call)

    def large() -> bool:
        """Whether the records held so far are more than a spool keeps in memory (a few very large ones)."""
        return package is not None and package.spool.in_memory() > IN_MEMORY

    def add(source: str, entity: str, records: list[dict[str, Any]]) -> bytes:
        return made().add(source, entity, records)

    def made() -> ZipPackage:
        nonlocal package
        if package is None:
            package = ZipPackage(
                None, sources.entity_names(), request=request, customer=customer, reader=reader
            )
        # Spooled to disk only on the package's thread.
        package.spool.spill = thread is not None
        return package

    def finishing(describe: list[dict[str, Any]]) -> tuple[bytes, bool]:
        """The next bytes of the package's end (its CSVs, report.html, the zip's directory), at least a
        :data:`CHUNK` unless it is the last piece, as the records are handed out; True once it is all out (and
        the package closed)."""
        nonlocal rest, closed
        if rest is None:
            rest = made().finish(describe)
        out = bytearray()
        for chunk in rest:
            out += chunk
            if len(out) >= CHUNK:
                return bytes(out), False
        close()
        return bytes(out), True

    def close() -> None:
        """An unfinished CSV entry first, then the package (a no-op once done)."""
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            if rest is not None:
                rest.close()
        finally:
            if package is not None:
                package.close()

    async with AsyncExitStack() as cleanup:

        @cleanup.callback
        def give_back() -> None:
            if thread is not None:
                return_thread(thread)

        @cleanup.push_async_callback
        async def release() -> None:
            if not closed:  # done already when the package was finished
                await step(close)

        if batches is None:
            batches = sources.collect_batches(identity)
        async with aclosing(read_ahead(batches)) as ahead:
            async for source, entity, records in ahead:
                if chunk := await step(partial(add, source, entity, records), len(records)):
                    yield chunk

        describe = sources.describe()
        done = False
        while not done:
            chunk, done = await step(partial(finishing, describe))
            if chunk:
                yield chunk
