"""The customer's data package: ``data.json``, one CSV per entity and ``report.html``, streamed.

Nothing holds all of a customer's rows: ``stream_json`` writes records as they are collected, and
``stream_zip`` compresses ``data.json`` into the zip as the records arrive while it spools each entity's CSV
rows to a temp file, then adds the CSVs from those files and ``report.html`` (which shows the first
:data:`REPORT_ROWS` records of each entity). The zip is written into a pipe whose compressed bytes are
handed out as they are produced.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from functools import partial
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from app.core import clock
from app.packages.crypto import PackageError, read_encrypted_package, write_encrypted_package
from app.packages.report_html import report_html
from app.sources.base import Identity
from app.sources.service import DataSources
from app.sources.threads import iterate_in_thread

__all__ = ["PackageError", "read_encrypted_package", "stream_json", "stream_zip", "write_encrypted_package"]

CHUNK = 64 * 1024
# Spooled CSV files are copied into the zip in blocks of this size.
BLOCK = 1024 * 1024
# zlib level for the zip's entries: on this kind of text level 3 compresses about twice as fast as the default
# 6, for a package some 10% larger.
COMPRESSLEVEL = 3
# Records per entity shown in report.html; all of them are in data.json and the CSVs.
REPORT_ROWS = 200


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


class DataJsonWriter:
    """Builds ``data.json`` piece by piece from records grouped by source and entity.

    Every configured source and entity appears, with an empty list when nothing was found.
    """

    def __init__(
        self, names: dict[str, list[str]], *, request: dict[str, Any], customer: dict[str, Any] | None
    ):
        self._names = names
        self._head = {"request": request, "customer": customer, "generated_at": clock.now().isoformat()}
        self._source: str | None = None
        self._entity: str | None = None
        self._done_sources: set[str] = set()
        self._done_entities: set[str] = set()
        self._first_record = True

    def start(self) -> str:
        head = _dumps(self._head)
        return head[:-1] + ', "sources": {'

    def records(self, source: str, entity: str, records: list[dict[str, Any]]) -> str:
        # One dumps for the whole batch, its brackets cut off: far cheaper than one call per record.
        return self.encoded(source, entity, [_dumps(records)[1:-1]] if records else [])

    def encoded(self, source: str, entity: str, records: list[str]) -> str:
        """Like :meth:`records`, with the records already JSON text: items joined with ``", "``."""
        parts: list[str] = []
        if source != self._source:
            parts.append(self._close_source())
            parts.append(self._open_source(source))
        if entity != self._entity:
            parts.append(self._close_entity())
            parts.append(f"{', ' if self._done_entities else ''}{_dumps(entity)}: [")
            self._entity = entity
            self._done_entities.add(entity)
            self._first_record = True
        if records:
            parts.append(("" if self._first_record else ", ") + ", ".join(records))
            self._first_record = False
        return "".join(parts)

    def finish(self) -> str:
        parts = [self._close_source()]
        for source in self._names:
            if source not in self._done_sources:
                parts.append(self._open_source(source))
                parts.append(self._close_source())
        parts.append("}}\n")
        return "".join(parts)

    def _open_source(self, source: str) -> str:
        self._source = source
        self._done_entities = set()
        out = f"{', ' if self._done_sources else ''}{_dumps(source)}: {{"
        self._done_sources.add(source)
        return out

    def _close_entity(self) -> str:
        if self._entity is None:
            return ""
        self._entity = None
        return "]"

    def _close_source(self) -> str:
        if self._source is None:
            return ""
        parts = [self._close_entity()]
        for entity in self._names.get(self._source, []):
            if entity not in self._done_entities:
                parts.append(f"{', ' if self._done_entities else ''}{_dumps(entity)}: []")
                self._done_entities.add(entity)
        self._source = None
        return "".join(parts) + "}"


async def stream_json(
    sources: DataSources, identity: Identity, *, request: dict[str, Any], customer: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """``data.json`` for the identity as UTF-8 chunks, written while the sources are read."""
    writer = DataJsonWriter(sources.entity_names(), request=request, customer=customer)
    buffer = io.StringIO()
    buffer.write(writer.start())
    async for source, entity, records in sources.collect_batches(identity):
        buffer.write(writer.records(source, entity, records))
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode()
            buffer = io.StringIO()
    buffer.write(writer.finish())
    yield buffer.getvalue().encode()


class Spool:
    """Each entity's CSV rows in a temp file, its columns in first-seen order, its record count and its first
    :data:`REPORT_ROWS` records (for ``report.html``); ``data.json`` is written straight into the zip."""

    def __init__(self, directory: Path, names: dict[str, list[str]]) -> None:
        self._directory = directory
        self.order: list[tuple[str, str]] = [(s, e) for s, entities in names.items() for e in entities]
        self.columns: dict[tuple[str, str], dict[str, None]] = {key: {} for key in self.order}
        self.counts: dict[tuple[str, str], int] = dict.fromkeys(self.order, 0)
        self.samples: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in self.order}
        # Entities whose columns grew after rows were spooled: those rows are short and padded when zipped.
        self.ragged: set[tuple[str, str]] = set()
        self.sources = list(names)

    def _path(self, key: tuple[str, str]) -> Path:
        return self._directory / f"{self.order.index(key)}.csv"

    def add(self, source: str, entity: str, records: list[dict[str, Any]]) -> None:
        """Blocking: append a batch of records."""
        key = (source, entity)
        if key not in self.columns:
            # An HTTP source may return entities it did not declare.
            self.order.append(key)
            self.columns[key] = {}
            self.counts[key] = 0
            self.samples[key] = []
            if source not in self.sources:
                self.sources.append(source)
        if not records:
            return
        columns = self.columns[key]
        width = len(columns)
        rows: list[Sequence[Any]] | None = _uniform_rows(records, columns)
        if rows is None:
            for record in records:
                columns.update(dict.fromkeys(record))
            names = list(columns)
            rows = [[record.get(name) for name in names] for record in records]
        if len(columns) > width and self.counts[key]:
            self.ragged.add(key)
        # csv writes None as an empty cell; nested values (HTTP sources) go into one cell as JSON; text a
        # spreadsheet would run as a formula is defused.
        cells = list(chain.from_iterable(rows))
        if not set(map(type, cells)).isdisjoint((dict, list)) or any(map(_risky, cells)):
            rows = [[_cell(value) for value in row] for row in rows]
        with self._path(key).open("a", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows(rows)
        sample = self.samples[key]
        if len(sample) < REPORT_ROWS:
            sample.extend(records[: REPORT_ROWS - len(sample)])
        self.counts[key] += len(records)

    def csv_chunks(self, source: str, entity: str) -> Iterator[bytes]:
        """Blocking: the entity's CSV file, header first, in blocks of bytes."""
        key = (source, entity)
        columns = list(self.columns[key])
        header = io.StringIO()
        csv.writer(header).writerow([_cell(name) for name in columns])
        yield header.getvalue().encode()
        path = self._path(key)
        if not path.exists():
            return
        if key in self.ragged:
            # Rows spooled before a column first appeared lack the trailing cells: empty, as for a missing key.
            with path.open(encoding="utf-8", newline="") as rows:
                padded = io.StringIO()
                writer = csv.writer(padded)
                for row in csv.reader(rows):
                    writer.writerow(row + [""] * (len(columns) - len(row)))
                    if padded.tell() >= BLOCK:
                        yield padded.getvalue().encode()
                        padded = io.StringIO()
                        writer = csv.writer(padded)
                yield padded.getvalue().encode()
            return
        with path.open("rb") as spooled:
            while block := spooled.read(BLOCK):
                yield block

    def names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {source: [] for source in self.sources}
        for source, entity in self.order:
            out[source].append(entity)
        return out


def _uniform_rows(records: list[dict[str, Any]], columns: dict[str, None]) -> list[Sequence[Any]] | None:
    """The batch as rows in column order when every record has the same keys (SQL sources), else None.

    New keys are added to ``columns``; a record with exactly as many keys as there are columns and all of
    them present has exactly those keys.
    """
    columns.update(dict.fromkeys(records[0]))
    width = len(columns)
    if not all(map(width.__eq__, map(len, records))):
        return None
    if width == 0:
        return [() for _ in records]
    getter = itemgetter(*columns)
    try:
        rows = list(map(getter, records))
    except KeyError:
        return None
    return rows if width > 1 else [(value,) for value in rows]


class _Pipe:
    """A write-only file for zipfile: bytes accumulate until taken (zipfile copes with unseekable output)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class ZipPackage:
    """Builds the zip while the sources are read: ``data.json`` is compressed as the records arrive (the
    first entry), the CSVs are spooled and zipped after it, then ``report.html``. Blocking methods: call
    them on a worker thread, one at a time."""

    def __init__(
        self,
        directory: Path,
        names: dict[str, list[str]],
        *,
        request: dict[str, Any],
        customer: dict[str, Any] | None,
    ) -> None:
        self.spool = Spool(directory, names)
        self._request = request
        self._customer = customer
        self._pipe = _Pipe()
        self._archive = zipfile.ZipFile(
            self._pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL
        )
        self._json = DataJsonWriter(names, request=request, customer=customer)
        self._entry: IO[bytes] | None = self._archive.open("data.json", "w", force_zip64=True)
        self._entry.write(self._json.start().encode())

    def add(self, source: str, entity: str, records: list[dict[str, Any]]) -> bytes:
        """Add a batch of records; returns zip bytes ready to send (often none yet)."""
        assert self._entry is not None
        self._entry.write(self._json.records(source, entity, records).encode())
        self.spool.add(source, entity, records)
        return self._pipe.take() if len(self._pipe.buffer) >= CHUNK else b""

    def finish(self, describe: list[dict[str, Any]]) -> Generator[bytes, None, None]:
        """The rest of the zip: the end of ``data.json``, the CSVs, ``report.html`` and the directory."""
        assert self._entry is not None
        pipe, archive, spool = self._pipe, self._archive, self.spool
        self._entry.write(self._json.finish().encode())
        self._entry.close()
        self._entry = None
        yield pipe.take()
        for source, entity in spool.order:
            with archive.open(f"{source}/{entity}.csv", "w", force_zip64=True) as entry:
                for block in spool.csv_chunks(source, entity):
                    entry.write(block)
                    if len(pipe.buffer) >= CHUNK:
                        yield pipe.take()
        page = report_html(spool, describe, request=self._request, customer=self._customer)
        with archive.open("report.html", "w", force_zip64=True) as entry:
            entry.write("".join(page).encode())
        archive.close()
        yield pipe.take()

    def abandon(self) -> None:
        """Drop a package that will not be finished (a source failed, or the reader went away)."""
        self._entry = None
        self._archive.fp = None  # nothing more is written: the pipe's bytes are thrown away


# OWASP "CSV injection": a cell starting with one of these is run as a formula by spreadsheets (the full-width
# forms too, in some locales). Such text is written with a leading apostrophe, which spreadsheets show as text.
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
# A plain number written as text (a decimal, a signed amount) is not a formula: it stays a number.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _risky(value: Any) -> bool:
    return isinstance(value, str) and value[:1] in _FORMULA_START and not _NUMBER.fullmatch(value)


def _cell(value: Any) -> Any:
    """A value as the CSV writes it: nested values as JSON, formula-like text defused (data.json keeps it as is)."""
    if isinstance(value, dict | list):
        return _dumps(value)
    if _risky(value):
        return "'" + value
    return value


async def stream_zip(
    sources: DataSources, identity: Identity, *, request: dict[str, Any], customer: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """The zip package for the identity, as chunks, with memory bounded by one batch of rows.

    The next batch is read from the sources while the current one is written to the package.
    """
    # The spooled CSVs may be large: creating and removing them is disk work, kept off the event loop.
    directory = await asyncio.to_thread(tempfile.TemporaryDirectory, prefix="package-")
    try:
        package = await asyncio.to_thread(
            partial(
                ZipPackage, Path(directory.name), sources.entity_names(), request=request, customer=customer
            )
        )
        finished = False
        batches = aiter(sources.collect_batches(identity))
        ahead: asyncio.Future[tuple[str, str, list[dict[str, Any]]]] | None = None
        try:
            ahead = asyncio.ensure_future(anext(batches))
            while True:
                try:
                    source, entity, records = await ahead
                except StopAsyncIteration:
                    ahead = None
                    break
                ahead = asyncio.ensure_future(anext(batches))
                chunk = await asyncio.to_thread(package.add, source, entity, records)
                if chunk:
                    yield chunk
            async for chunk in iterate_in_thread(partial(package.finish, sources.describe())):
                if chunk:
                    yield chunk
            finished = True
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.wait({ahead})
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: the error that matters is already propagating
            if isinstance(batches, AsyncGenerator):
                await batches.aclose()
            if not finished:
                package.abandon()
    finally:
        await asyncio.to_thread(directory.cleanup)
