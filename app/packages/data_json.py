"""``data.json``: ``{"request", "customer", "generated_at", "sources": {"<source>": {"<entity>": [records]}}}``,
written while the sources are read, so no customer's records are held all at once (contract section 6), as
compact UTF-8 JSON."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

from app.core import clock
from app.packages.json_writer import JsonWriter
from app.sources.base import Identity
from app.sources.service import DataSources

# stream_json hands out the document in pieces of about this many bytes.
CHUNK = 64 * 1024


class DataJson:
    """The document's UTF-8 bytes, piece by piece, from records grouped by source and entity as the sources
    yield them.

    Sources and entities appear in the order their records arrive; every configured source and entity that
    sent none appears too, after them, with an empty list.
    """

    def __init__(
        self, names: dict[str, list[str]], *, request: dict[str, Any], customer: dict[str, Any] | None
    ) -> None:
        self._names = names
        self._head = {"request": request, "customer": customer, "generated_at": clock.now().isoformat()}
        self._json = JsonWriter()
        self._source: str | None = None
        self._entity: str | None = None
        self._sources: set[str] = set()  # written or being written
        self._entities: set[str] = set()  # of the source being written

    def start(self) -> bytes:
        """The document's beginning, up to the opening of ``sources``."""
        parts = [self._json.open_object()]
        parts.extend(self._json.member(key, value) for key, value in self._head.items())
        parts.append(self._json.open_object("sources"))
        return b"".join(parts)

    def records(self, source: str, entity: str, records: list[dict[str, Any]]) -> bytes:
        """A batch of one entity's records; the batches of one source, and of one entity, come together."""
        parts: list[bytes] = []
        if source != self._source:
            parts.append(self._close_source())
            parts.append(self._open_source(source))
        if entity != self._entity:
            parts.append(self._close_entity())
            parts.append(self._json.open_array(entity))
            self._entity = entity
            self._entities.add(entity)
        parts.append(self._json.items(records))
        return b"".join(parts)

    def finish(self) -> bytes:
        """The rest of the document: the sources that sent nothing, and the closing brackets."""
        parts = [self._close_source()]
        for source in self._names:
            if source not in self._sources:
                parts.append(self._open_source(source))
                parts.append(self._close_source())
        parts.append(self._json.close())  # sources
        parts.append(self._json.close())  # the document
        return b"".join(parts) + b"\n"

    def _open_source(self, source: str) -> bytes:
        self._source = source
        self._sources.add(source)
        self._entities = set()
        return self._json.open_object(source)

    def _close_entity(self) -> bytes:
        if self._entity is None:
            return b""
        self._entity = None
        return self._json.close()

    def _close_source(self) -> bytes:
        if self._source is None:
            return b""
        parts = [self._close_entity()]
        for entity in self._names.get(self._source, []):
            if entity not in self._entities:
                parts.append(self._json.member(entity, []))
        self._source = None
        return b"".join(parts) + self._json.close()


async def stream_json(
    sources: DataSources, identity: Identity, *, request: dict[str, Any], customer: dict[str, Any] | None
) -> AsyncIterator[bytes]:
    """``data.json`` for the identity as UTF-8 chunks, written while the sources are read."""
    document = DataJson(sources.entity_names(), request=request, customer=customer)
    buffer = io.BytesIO()
    buffer.write(document.start())
    async for source, entity, records in sources.collect_batches(identity):
        buffer.write(document.records(source, entity, records))
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer = io.BytesIO()
    buffer.write(document.finish())
    yield buffer.getvalue()
