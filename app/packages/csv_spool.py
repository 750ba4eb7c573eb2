"""One CSV file per entity, spooled while the sources are read and handed out in blocks afterwards.

An entity's columns are only known once all its records are seen (an HTTP source's records may differ in
their keys), so the rows wait in a spool and the header is written when the spool is read back. Each spool
stays in memory up to :data:`IN_MEMORY` characters (a customer with a few rows never touches the disk) and
moves to a temp file beyond, so a large customer's rows are never held in memory.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from app.packages.csv_cells import cell, needs_care, texts_need_care
from app.sources.values import Records

# A spooled file is read back in blocks of this size.
BLOCK = 1024 * 1024
# Characters of one entity's rows kept in memory before its spool moves to a temp file.
IN_MEMORY = 256 * 1024

Key = tuple[str, str]  # (source, entity)


class Spool:
    """Each entity's CSV rows in a spool, its columns in first-seen order, its record count and its first
    ``samples`` records. Temp files go to ``directory`` (None: the system's). Blocking: use it from one thread
    at a time; :meth:`close` it."""

    def __init__(self, directory: Path | None, names: dict[str, list[str]], *, samples: int = 0) -> None:
        self._directory = directory
        self._files: dict[Key, IO[str]] = {}
        self._keep = samples
        self.order: list[Key] = [(s, e) for s, entities in names.items() for e in entities]
        self.columns: dict[Key, dict[str, None]] = {key: {} for key in self.order}
        self.counts: dict[Key, int] = dict.fromkeys(self.order, 0)
        self.samples: dict[Key, list[dict[str, Any]]] = {key: [] for key in self.order}
        # Entities whose columns grew after rows were spooled: those rows are short and padded when read.
        self.ragged: set[Key] = set()
        self.sources = list(names)
        # False: a spool grown past IN_MEMORY stays in memory (its owner is on the event loop, with few
        # records); it moves to disk at the next write once this is True again.
        self.spill = True

    def _write(self, key: Key, rows: Sequence[Sequence[Any]]) -> None:
        spool = self._files.get(key)
        if spool is None:
            spool = self._files[key] = io.StringIO()
        if not isinstance(spool, io.StringIO):
            # The batch is written in memory, then to the file in one piece: the csv module writes row by row,
            # and a row written to a file costs an encoding and a buffer call of its own.
            batch = io.StringIO()
            csv.writer(batch).writerows(rows)
            spool.write(batch.getvalue())
            return
        csv.writer(spool).writerows(rows)
        if self.spill and spool.tell() > IN_MEMORY:
            # Grown past what stays in memory: on to a temp file, deleted when closed.
            on_disk = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="", dir=self._directory)
            on_disk.write(spool.getvalue())
            self._files[key] = on_disk

    def in_memory(self) -> int:
        """The characters of rows held in memory (not yet in temp files)."""
        return sum(spool.tell() for spool in self._files.values() if isinstance(spool, io.StringIO))

    def close(self) -> None:
        """Release the spools (their temp files, if any)."""
        for spool in self._files.values():
            spool.close()
        self._files.clear()

    def add(self, source: str, entity: str, records: list[dict[str, Any]]) -> None:
        """Append a batch of records."""
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
        rows: Sequence[Sequence[Any]] | None = None
        if isinstance(records, Records):
            columns.update(dict.fromkeys(records.names))
            if len(columns) == len(records.names) and list(columns) == records.names:
                # A SQL source's batch comes with its rows: no need to take the records apart again.
                rows = records.rows
        if rows is None:
            rows = _uniform_rows(records, columns)
        if rows is None:
            for record in records:
                columns.update(dict.fromkeys(record))
            names = list(columns)
            rows = [[record.get(name) for name in names] for record in records]
        if len(columns) > width and self.counts[key]:
            self.ragged.add(key)
        # csv writes None as an empty cell.
        if _needs_care(records, rows):
            rows = [[cell(value) for value in row] for row in rows]
        self._write(key, rows)
        sample = self.samples[key]
        if len(sample) < self._keep:
            sample.extend(records[: self._keep - len(sample)])
        self.counts[key] += len(records)

    def csv_chunks(self, source: str, entity: str) -> Iterator[bytes]:
        """The entity's CSV file, header first, in blocks of UTF-8 bytes."""
        key = (source, entity)
        columns = list(self.columns[key])
        header = io.StringIO()
        csv.writer(header).writerow([cell(name) for name in columns])
        yield header.getvalue().encode()
        spooled = self._files.get(key)
        if spooled is None:
            return
        spooled.seek(0)
        if key in self.ragged:
            yield from _padded(spooled, len(columns))
            return
        while block := spooled.read(BLOCK):
            yield block.encode()

    def names(self) -> dict[str, list[str]]:
        """The entities per source, undeclared ones included."""
        out: dict[str, list[str]] = {source: [] for source in self.sources}
        for source, entity in self.order:
            out[source].append(entity)
        return out


def _needs_care(records: list[dict[str, Any]], rows: Sequence[Sequence[Any]]) -> bool:
    """Whether any cell of ``rows`` must go through :func:`cell`; for a SQL source's batch, only its text columns
    are looked at (it holds no nested values)."""
    if isinstance(records, Records) and rows is records.rows:
        return texts_need_care(records.texts)
    return needs_care(list(chain.from_iterable(rows)))


def _padded(rows: IO[str], width: int) -> Iterator[bytes]:
    """A spool whose early rows lack the columns that appeared later: empty, as for a missing key."""
    padded = io.StringIO()
    writer = csv.writer(padded)
    for row in csv.reader(rows):
        writer.writerow(row + [""] * (width - len(row)))
        if padded.tell() >= BLOCK:
            yield padded.getvalue().encode()
            padded = io.StringIO()
            writer = csv.writer(padded)
    yield padded.getvalue().encode()


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
