"""An HTTP source: a remote system speaking the contract's GET / DELETE protocol.

A failed call raises a :class:`SourceError` that names the source but never a header value or the URL (which
holds the customer's id or email), and says whether retrying can help: after a timeout, a lost connection, a
5xx, 408 or 429 it can; after another 4xx or an answer that breaks the protocol it cannot. Outside a job a
call is retried (``attempts``, ``backoff`` in the sources file, see ``retries``); inside a job it makes one
attempt and the job's retries are the budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from app.sources.base import Identity, Refusal, SourceError
from app.sources.config import HttpSource
from app.sources.retries import in_call_retrying
from app.sources.values import json_record

T = TypeVar("T")


# Besides every 5xx, the answers that say "later": the server timed out waiting, too many requests.
_RETRYABLE_STATUS = frozenset({408, 429})


class _BadAnswer(Exception):
    """The source answered, but not as the protocol says; retryable only for the statuses above and 5xx."""

    def __init__(self, problem: str, *, retryable: bool = False) -> None:
        super().__init__(problem)
        self.retryable = retryable


def _unexpected_status(response: httpx.Response) -> _BadAnswer:
    status = response.status_code
    return _BadAnswer(f"answered HTTP {status}", retryable=status >= 500 or status in _RETRYABLE_STATUS)


class HttpDataSource:
    """Collects from, dry-runs and erases on one remote source."""

    def __init__(self, config: HttpSource, *, headers: dict[str, str], client: httpx.AsyncClient) -> None:
        self.name = config.name
        self.config = config
        self._headers = headers
        self._client = client

    def url_for(self, identity: Identity) -> str | None:
        """The source's URL for this identity, or None when it needs a key the identity lacks."""
        values = {"customer_id": identity.customer_id, "email": identity.email}
        needed = [key for key in values if "{" + key + "}" in self.config.url]
        if any(values[key] is None for key in needed):
            return None
        return self.config.url.format(**{key: quote(values[key] or "", safe="") for key in values})

    async def collect(self, identity: Identity) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
        """Each entity's records, as the source returned them (JSON-safe)."""
        url = self.url_for(identity)
        if url is None:
            return
        entities = await self._call("GET", url, None, _parse_entities)
        for name, records in entities.items():
            if records:
                yield name, [json_record(record) for record in records]

    async def dry_run(self, identity: Identity) -> list[Refusal]:
        """Ask whether the erasure would be allowed: no refusals on 204, the source's reasons on 403."""
        url = self.url_for(identity)
        if url is None:
            return []
        return await self._call("DELETE", url, {"dry_run": "true"}, self._parse_refusals)

    async def erase(self, identity: Identity) -> dict[str, Any]:
        """Erase on the remote system; the report lists the counts it gave (or each declared entity)."""
        url = self.url_for(identity)
        if url is None:
            return {}
        counts = await self._call("DELETE", url, None, _parse_counts)
        if counts is None:
            return {entity.name: {"action": "deleted"} for entity in self.config.entities}
        return {name: {"action": "deleted", "count": count} for name, count in counts.items()}

    async def leftovers(self, identity: Identity) -> list[str]:
        """What a fresh GET still returns after the erasure."""
        found: list[str] = []
        async for name, records in self.collect(identity):
            found.append(f"{self.name}.{name}: {len(records)} records still exist")
        return found

    async def _call(
        self, method: str, url: str, params: dict[str, str] | None, parse: Callable[[httpx.Response], T]
    ) -> T:
        tried = 0

        async def attempt() -> T:
            nonlocal tried
            tried += 1
            return await self._attempt(method, url, params, parse)

        retrying = in_call_retrying(
            attempts=self.config.attempts, backoff=self.config.backoff.total_seconds()
        )
        try:
            return await retrying(attempt)
        except SourceError as exc:
            if tried == 1:
                raise
            raise SourceError(
                self.name, f"{exc.problem} (after {tried} attempts)", retryable=exc.retryable
            ) from None

    async def _attempt(
        self, method: str, url: str, params: dict[str, str] | None, parse: Callable[[httpx.Response], T]
    ) -> T:
        what = f"{method}{' (dry run)' if params else ''}"
        try:
            response = await self._client.request(
                method, url, params=params, headers=self._headers, timeout=self.config.timeout.total_seconds()
            )
            return parse(response)
        except httpx.TimeoutException:
            problem = f"{what} got no answer within {self.config.timeout.total_seconds():g}s"
            raise SourceError(self.name, problem) from None
        except httpx.TransportError as exc:
            # A refused or broken connection may work next time; a URL scheme httpx cannot speak will not.
            retryable = not isinstance(exc, httpx.UnsupportedProtocol)
            raise SourceError(
                self.name, f"{what} failed ({type(exc).__name__})", retryable=retryable
            ) from None
        except httpx.HTTPError as exc:
            raise SourceError(self.name, f"{what} failed ({type(exc).__name__})", retryable=False) from None
        except _BadAnswer as exc:
            raise SourceError(self.name, f"{what} {exc}", retryable=exc.retryable) from None

    def _parse_refusals(self, response: httpx.Response) -> list[Refusal]:
        if response.status_code == 204:
            return []
        if response.status_code != 403:
            raise _unexpected_status(response)
        body = _json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list) or not errors:
            raise _BadAnswer("refused without a list of errors")
        return [
            Refusal(
                source=self.name,
                code=str(error.get("code") or "refused") if isinstance(error, dict) else "refused",
                message=str(error.get("message") or "") if isinstance(error, dict) else str(error),
            )
            for error in errors
        ]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _BadAnswer(f"answered HTTP {response.status_code} without valid JSON") from None


def _parse_entities(response: httpx.Response) -> dict[str, list[dict[str, Any]]]:
    if response.status_code in (204, 404):
        return {}
    if response.status_code != 200:
        raise _unexpected_status(response)
    body = _json(response)
    entities = body.get("entities") if isinstance(body, dict) else None
    if not isinstance(entities, dict) or not all(
        isinstance(records, list) and all(isinstance(r, dict) for r in records)
        for records in entities.values()
    ):
        raise _BadAnswer('answered without {"entities": {"<name>": [{...}]}}')
    return {str(name): records for name, records in entities.items()}


def _parse_counts(response: httpx.Response) -> dict[str, int] | None:
    if response.status_code == 204:
        return None
    if response.status_code != 200:
        raise _unexpected_status(response)
    body = _json(response)
    entities = body.get("entities") if isinstance(body, dict) else None
    if not isinstance(entities, dict) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in entities.values()
    ):
        raise _BadAnswer('answered without {"entities": {"<name>": count}}')
    return {str(name): count for name, count in entities.items()}
