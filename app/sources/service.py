"""DataSources: the one object the API and the worker use to reach customers' data in every source."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from app.sources.base import Customer, Identity, Refusal, SourceError
from app.sources.config import (
    HttpEntity,
    HttpSource,
    ManualSource,
    SourcesConfig,
    SqlEntity,
    SqlSource,
    load_sources,
)
from app.sources.http import HttpDataSource
from app.sources.retries import in_call_retrying
from app.sources.sql import BATCH_ROWS, SqlDataSource
from app.sources.sql_erase import Captured, erase_source, leftovers
from app.sources.threads import iterate_in_thread

# The look-ups answer an HTTP request (submit, the customer view): a blip may pass, an outage answers 503.
DIRECTORY_ATTEMPTS = 3
DIRECTORY_BACKOFF_SECONDS = 0.1


class DataSources:
    """Every configured source. Create with :meth:`from_file`; close with :meth:`aclose`."""

    def __init__(self, config: SourcesConfig, *, secret_key: str) -> None:
        self.config = config
        self._secret_key = secret_key
        # No redirects: a source redirecting an erasure elsewhere is a misconfiguration, not a success.
        self._client = httpx.AsyncClient(follow_redirects=False)
        self.sources: list[SqlDataSource | HttpDataSource] = []
        # Systems without an API: nothing is read or erased there automatically; each request becomes a task
        # for their owner (app.manual).
        self.manual: list[ManualSource] = []
        for source in config.sources:
            if isinstance(source, SqlSource):
                url = config.sql_urls[source.name]
                self.sources.append(SqlDataSource(source, url=url, order=config.orders[source.name]))
            elif isinstance(source, ManualSource):
                self.manual.append(source)
            else:
                headers = config.http_headers[source.name]
                self.sources.append(HttpDataSource(source, headers=headers, client=self._client))
        self.directory = next(
            s for s in self.sources if isinstance(s, SqlDataSource) and s.config.directory is not None
        )
        self._descriptions = _descriptions(config)

    @classmethod
    def from_file(cls, path: Path, *, secret_key: str, env: Mapping[str, str] | None = None) -> DataSources:
        """Load and validate the sources file (raises SourcesFileError naming file, line and field)."""
        return cls(load_sources(path, env=env), secret_key=secret_key)

    def check_schema(self) -> list[str]:
        """Blocking, for start-up: read each SQL source's compared column types now.

        Raises SourceError naming the source, table and column when one can never match (a customer id on a
        date column); returns a line per source whose database cannot be reached now (checked on first use).
        """
        unreachable: list[str] = []
        for source in self.sources:
            if isinstance(source, SqlDataSource) and (problem := source.check_schema()) is not None:
                unreachable.append(problem)
        return unreachable

    def dispose(self) -> None:
        """Blocking: close the SQL sources' pools (a check at start-up; otherwise use :meth:`aclose`)."""
        for source in self.sources:
            if isinstance(source, SqlDataSource):
                source.dispose()

    async def find_customer(
        self, *, customer_id: str | None = None, email: str | None = None
    ) -> Customer | None:
        """The directory's customer by id, else by email (case-insensitive); None when unknown.

        Raises SourceError naming the directory when it cannot be read (the API answers 503, Retry-After),
        after a few quick attempts (one inside a job). SQL drivers do not tell a passing failure from a lasting
        one reliably (SQLite reports a missing table as OperationalError), so every directory error is retried.
        """
        retrying = in_call_retrying(attempts=DIRECTORY_ATTEMPTS, backoff=DIRECTORY_BACKOFF_SECONDS)
        return await retrying(
            asyncio.to_thread, self.directory.find_customer, customer_id=customer_id, email=email
        )

    async def collect(self, identity: Identity) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """Every record of the identity as ``(source, entity, record)``, streamed with JSON-safe values.

        Records come grouped: all of one source, and within it all of one entity, before the next.
        """
        async for source, entity, batch in self.collect_batches(identity):
            for record in batch:
                yield source, entity, record

    async def collect_batches(
        self, identity: Identity
    ) -> AsyncIterator[tuple[str, str, list[dict[str, Any]]]]:
        """Like :meth:`collect`, in batches (cheaper for large exports)."""
        for source in self.sources:
            if isinstance(source, SqlDataSource):
                # A hop to the source's thread reads up to a batch of rows, across entities.
                batches = iterate_in_thread(
                    partial(source.collect_batches, identity),
                    weight=lambda batch: len(batch[1]),
                    bound=BATCH_ROWS,
                )
            else:
                batches = source.collect(identity)
            async for entity, records in batches:
                yield source.name, entity, records

    def entity_names(self) -> dict[str, list[str]]:
        """Configured entity names per source, in file order (HTTP sources: those declared)."""
        return {s.name: [e.name for e in s.config.entities] for s in self.sources}

    def describe(self) -> list[dict[str, Any]]:
        """Per source and entity what customers read about it (contract section 8; GDPR Art. 15): ``title``
        (the entity's name when none is configured), ``purpose``, ``categories``, ``recipients``, ``retention``,
        ``retention_basis``, ``source_of_data``, ``automated_decisions``, ``transfers`` (texts: a string or
        ``{"en": ..., "de": ...}``), how it is erased (``erase``: delete | anonymize | keep, with ``anonymize``
        the columns' strategies; HTTP sources erase on the remote system) and whether erasing it leaves
        pseudonymised rather than anonymous rows (``pseudonymised``). An HTTP source that declares no entities
        is one line with ``entity`` None and its source name as title."""
        return [_copied(d) for d in self._descriptions]

    async def dry_run_erasure(self, identity: Identity) -> list[Refusal]:
        """Ask every source whether erasing the identity is allowed; erases nothing.

        HTTP sources answer with refusals; SQL sources never refuse, but their queries are run so a broken
        source fails here (SourceError) rather than halfway through an erasure.
        """
        refusals: list[Refusal] = []
        for source in self.sources:
            if isinstance(source, SqlDataSource):
                await asyncio.to_thread(source.check_readable, identity)
            else:
                refusals.extend(await source.dry_run(identity))
        return refusals

    async def erase(self, identity: Identity) -> dict[str, Any]:
        """Erase the identity everywhere per configuration, then check a fresh read; return the erasure report.

        Each SQL source is one transaction. Remote sources go first and the directory last, so a failure
        leaves the customer findable for the retry; repeating is safe. Raises SourceError when a source fails
        or the check finds data that should be gone.
        """
        reports: dict[str, dict[str, Any]] = {}
        captures: dict[str, Captured] = {}
        try:
            for source in sorted(self.sources, key=self._erase_rank):
                if isinstance(source, SqlDataSource):
                    reports[source.name], captures[source.name] = await asyncio.to_thread(
                        erase_source, source, identity, secret_key=self._secret_key
                    )
                else:
                    reports[source.name] = await source.erase(identity)
            problems: list[tuple[str, str]] = []
            for source in self.sources:
                if isinstance(source, SqlDataSource):
                    found = await asyncio.to_thread(leftovers, source, identity, captures[source.name])
                else:
                    found = await source.leftovers(identity)
                problems.extend((source.name, problem) for problem in found)
        finally:
            for captured in captures.values():
                captured.close()
        if problems:
            raise SourceError(problems[0][0], "erasure check failed: " + "; ".join(p for _, p in problems))
        return {
            "sources": {s.name: self._explained(s.name, reports[s.name]) for s in self.sources},
            "verified": True,
        }

    def _explained(self, source: str, report: dict[str, Any]) -> dict[str, Any]:
        """Each entity's outcome with what customers read about it: ``title``, ``basis`` (the retention
        basis), ``retention`` and ``pseudonymised``; the contract's ``action``, ``count`` and ``reason`` stay."""
        about = {(d["source"], d["entity"]): d for d in self._descriptions}
        out: dict[str, Any] = {}
        for entity, outcome in report.items():
            # An HTTP source may report an entity it did not declare: named by its name, nothing more claimed.
            described = about.get((source, entity), {})
            out[entity] = {
                **outcome,
                "title": copy.deepcopy(described.get("title", entity)),
                "basis": described.get("retention_basis"),
                "retention": copy.deepcopy(described.get("retention")),
                "pseudonymised": outcome.get("action") == "anonymized"
                and bool(described.get("pseudonymised")),
            }
        return out

    def _erase_rank(self, source: SqlDataSource | HttpDataSource) -> int:
        if isinstance(source, HttpDataSource):
            return 0
        return 2 if source is self.directory else 1

    async def aclose(self) -> None:
        """Close the HTTP client and the database pools."""
        await self._client.aclose()
        for source in self.sources:
            if isinstance(source, SqlDataSource):
                await asyncio.to_thread(source.dispose)


def _copied(value: Any) -> Any:
    """A copy of a description's nested dicts and lists (the rest is text, numbers, booleans and None): a caller
    may change what it is given without changing the next caller's. The same result as ``copy.deepcopy`` in a
    sixth of its calls (each package and deletion email asks)."""
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return value


def _descriptions(config: SourcesConfig) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for source in config.sources:
        if isinstance(source, SqlSource):
            linked = _linked_columns(source.entities)
            for entity in source.entities:
                out.append(_described(source.name, "sql", entity, linked[entity.name]))
        elif not isinstance(source, HttpSource):
            continue  # a manual source: its owner's instructions, not entities, say what happens there
        elif not source.entities:
            out.append(_described(source.name, "http", None, set()))
        else:
            for remote in source.entities:
                out.append(_described(source.name, "http", remote, set()))
    return out


def _linked_columns(entities: list[SqlEntity]) -> dict[str, set[str]]:
    """Per entity, the columns that link its rows to a person or to other rows: its own match columns and the
    columns other entities match on (``orders.id`` for ``order_items``)."""
    linked = {entity.name: set(entity.match) for entity in entities}
    for entity in entities:
        for target in entity.match.values():
            parent, dot, column = target.partition(".")
            if dot and parent in linked:
                linked[parent].add(column)
    return linked


def _described(
    source: str, kind: str, entity: SqlEntity | HttpEntity | None, linked: set[str]
) -> dict[str, Any]:
    erase = entity.erase.strategy if isinstance(entity, SqlEntity) else "delete"
    columns = dict(entity.erase.columns) if isinstance(entity, SqlEntity) else {}
    # Pseudonymised, not anonymous (GDPR recital 26): a value became a repeatable keyed hash, or a linking
    # column stays as it was, so the rows can still be tied back to the person with other data.
    pseudonymised = erase == "anonymize" and (
        any(how == "hash" for how in columns.values()) or any(column not in columns for column in linked)
    )
    return {
        "source": source,
        "type": kind,
        "entity": entity.name if entity else None,
        "title": (entity.title or entity.name) if entity else source,
        "purpose": entity.purpose if entity else None,
        "categories": list(entity.categories) if entity else [],
        "recipients": list(entity.recipients) if entity else [],
        "retention": entity.retention if entity else None,
        "retention_basis": entity.retention_basis if entity else None,
        "source_of_data": entity.source_of_data if entity else None,
        "automated_decisions": entity.automated_decisions if entity else None,
        "transfers": entity.transfers if entity else None,
        "erase": erase,
        "anonymize": columns,
        "pseudonymised": pseudonymised,
    }
