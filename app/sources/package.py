"""The customer's data package: ``data.json``, one CSV per entity and ``report.html``, streamed.

Nothing holds all of a customer's rows: ``stream_json`` writes records as they are collected, and
``stream_zip`` first spools each entity's records to a temp file (one JSON line each), then writes the zip
entries from those files through a pipe, handing out the compressed bytes as they are produced.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Generator, Iterator
from functools import partial
from pathlib import Path
from typing import IO, Any

from app import clock
from app.sources.base import Identity
from app.sources.crypto import PackageError, read_encrypted_package, write_encrypted_package
from app.sources.report_html import report_html
from app.sources.service import DataSources
from app.sources.threads import iterate_in_thread

__all__ = ["PackageError", "read_encrypted_package", "stream_json", "stream_zip", "write_encrypted_package"]

CHUNK = 64 * 1024


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
        return self.encoded(source, entity, [_dumps(record) for record in records])

    def encoded(self, source: str, entity: str, records: list[str]) -> str:
        """Like :meth:`records`, with each record already JSON text (the spool's lines, not parsed again)."""
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
    """Each entity's records in a temp file, one JSON line per record, with its columns in first-seen order."""

    def __init__(self, directory: Path, names: dict[str, list[str]]) -> None:
        self._directory = directory
        self.order: list[tuple[str, str]] = [(s, e) for s, entities in names.items() for e in entities]
        self.columns: dict[tuple[str, str], dict[str, None]] = {key: {} for key in self.order}
        self.counts: dict[tuple[str, str], int] = dict.fromkeys(self.order, 0)
        self.sources = list(names)

    def _path(self, key: tuple[str, str]) -> Path:
        return self._directory / f"{self.order.index(key)}.jsonl"

    def add(self, source: str, entity: str, records: list[dict[str, Any]]) -> None:
        """Blocking: append a batch of records."""
        key = (source, entity)
        if key not in self.columns:
            # An HTTP source may return entities it did not declare.
            self.order.append(key)
            self.columns[key] = {}
            self.counts[key] = 0
            if source not in self.sources:
                self.sources.append(source)
        columns = self.columns[key]
        with self._path(key).open("a", encoding="utf-8") as out:
            for record in records:
                columns.update(dict.fromkeys(record))
                out.write(_dumps(record) + "\n")
        self.counts[key] += len(records)

    def records(self, source: str, entity: str) -> Iterator[dict[str, Any]]:
        """Blocking: the spooled records of one entity, read back one at a time."""
        for line in self.lines(source, entity):
            yield json.loads(line)

    def lines(self, source: str, entity: str) -> Iterator[str]:
        """Blocking: the spooled records of one entity as JSON text, one record per item."""
        path = self._path((source, entity))
        if not path.exists():
            return
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield line.rstrip("\n")

    def names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {source: [] for source in self.sources}
        for source, entity in self.order:
            out[source].append(entity)
        return out


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


def _zip_chunks(
    spool: Spool, describe: list[dict[str, Any]], request: dict[str, Any], customer: dict[str, Any] | None
) -> Generator[bytes, None, None]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("data.json", "w", force_zip64=True) as entry:
            writer = DataJsonWriter(spool.names(), request=request, customer=customer)
            entry.write(writer.start().encode())
            for source, entity in spool.order:
                batch: list[str] = []
                for line in spool.lines(source, entity):
                    batch.append(line)
                    if len(batch) >= 500:
                        entry.write(writer.encoded(source, entity, batch).encode())
                        batch = []
                        if len(pipe.buffer) >= CHUNK:
                            yield pipe.take()
                entry.write(writer.encoded(source, entity, batch).encode())
            entry.write(writer.finish().encode())
        yield pipe.take()
        for source, entity in spool.order:
            with archive.open(f"{source}/{entity}.csv", "w", force_zip64=True) as entry:
                text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
                yield from _write_csv(text, spool, source, entity, pipe)
                text.flush()
                text.detach()
            yield pipe.take()
        with archive.open("report.html", "w", force_zip64=True) as entry:
            # The page comes in many small pieces; compressing each separately is slow, so gather ~64 KiB.
            pieces: list[str] = []
            gathered = 0
            for piece in report_html(spool, describe, request=request, customer=customer):
                pieces.append(piece)
                gathered += len(piece)
                if gathered >= CHUNK:
                    entry.write("".join(pieces).encode())
                    pieces, gathered = [], 0
                    if len(pipe.buffer) >= CHUNK:
                        yield pipe.take()
            entry.write("".join(pieces).encode())
    yield pipe.take()


def _write_csv(text: IO[str], spool: Spool, source: str, entity: str, pipe: _Pipe) -> Iterator[bytes]:
    columns = list(spool.columns[(source, entity)])
    writer = csv.writer(text)
    writer.writerow(columns)
    for record in spool.records(source, entity):
        # Nested values (HTTP sources) go into one cell as JSON.
        writer.writerow([_cell(record.get(column)) for column in columns])
        if len(pipe.buffer) >= CHUNK:
            yield pipe.take()


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return _dumps(value)
    return "" if value is None else value


async def stream_zip(
    sources: DataSources, identity: Identity, *, request: dict[str, Any], customer: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """The zip package for the identity, as chunks, with memory bounded by one batch of rows."""
    with tempfile.TemporaryDirectory(prefix="package-") as directory:
        spool = Spool(Path(directory), sources.entity_names())
        async for source, entity, records in sources.collect_batches(identity):
            await asyncio.to_thread(spool.add, source, entity, records)
        chunks = iterate_in_thread(partial(_zip_chunks, spool, sources.describe(), request, customer))
        async for chunk in chunks:
            if chunk:
                yield chunk
