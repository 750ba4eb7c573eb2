"""Per-client-address rate limits (contract section 11): submit, verify, downloads, and failed authentication.

A one-minute window per (scope, address), opened by the address's first call in it. Where the count is kept is
a ``HitCounter``: on PostgreSQL one table that every replica updates (``app.ratelimits``), so the limits hold
across replicas; on SQLite (one process) ``MemoryCounter`` below, bounded however many addresses call.

The address is the connection's peer, or the client a trusted proxy reports (``FORWARDED_ALLOW_IPS``, applied
by ``create_app`` before anything reads it). ``RATE_LIMIT_PER_MINUTE=0`` disables every limit.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, NamedTuple, Protocol

from cachetools import TTLCache
from fastapi import Depends, Request

from app.core import clock
from app.core.errors import RateLimited

WINDOW = timedelta(minutes=1)
# Windows kept in memory at most (SQLite): past it, a new address takes the place of the one least recently
# seen. About 45 MB at the bound (IPv4 addresses).
MAX_TRACKED = 100_000
# Longest address counted (the column's length, app.models.rate_limit_window): longer values, which only a
# malformed forwarded header produces, are cut.
ADDRESS_LENGTH = 100

AUTH_FAILURES = "auth_failures"


class Count(NamedTuple):
    hits: int  # calls counted in the address's current window, this one included
    resets_in: float  # seconds until that window ends


class HitCounter(Protocol):
    async def hit(self, scope: str, address: str) -> Count:
        """Count one call of ``address`` in ``scope`` and return the window's count, atomically."""
        ...


def _timer() -> float:
    return clock.now().timestamp()


class MemoryCounter:
    """Windows in this process, for SQLite's single process: an LRU table with a time-to-live (cachetools),
    so memory stays bounded (``max_tracked`` windows) and a hit costs O(1) whatever the number of addresses."""

    def __init__(self, *, max_tracked: int = MAX_TRACKED) -> None:
        self.window = WINDOW.total_seconds()
        # Value: [window start, hits]. The entry lives ``window`` from its start (set once per window; the hits
        # are counted in place), then expires; expired entries leave as new ones come, a few at a time.
        self._windows: TTLCache[tuple[str, str], list[float]] = TTLCache(
            maxsize=max_tracked, ttl=self.window, timer=_timer
        )

    def __len__(self) -> int:
        """Windows held now (those that ended are cleared first)."""
        return len(self._windows)

    async def hit(self, scope: str, address: str) -> Count:
        now = _timer()
        key = (scope, address)
        entry = self._windows.get(key)
        if entry is None or now - entry[0] >= self.window:
            entry = [now, 0]
            self._windows[key] = entry
        entry[1] += 1
        return Count(int(entry[1]), entry[0] + self.window - now)


class RateLimiter:
    """Applies the allowances to a ``HitCounter``'s counts; raises ``RateLimited`` (429 with Retry-After)."""

    def __init__(
        self,
        counter: HitCounter,
        *,
        per_minute: int,
        auth_failures_per_minute: int,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.counter = counter
        self.per_minute = per_minute
        self.auth_failures_per_minute = auth_failures_per_minute if per_minute > 0 else 0
        # Addresses whose failed authentications spent their allowance, until their window ends. Kept here so
        # that a call with credentials costs no look-up in the shared table: a replica learns of an address
        # spent on other replicas from its own next failure there, which it answers 429.
        self._shut_out: TTLCache[str, float] = TTLCache(
            maxsize=max_tracked, ttl=WINDOW.total_seconds(), timer=_timer
        )

    async def hit(self, scope: str, address: str) -> None:
        """Count one call; raise RateLimited once the window's allowance is spent."""
        if self.per_minute <= 0:
            return
        count = await self.counter.hit(scope, address)
        if count.hits > self.per_minute:
            raise _refused(count.resets_in)

    def check_authentication(self, address: str) -> None:
        """Before credentials are checked: refuse an address whose failed authentications spent the allowance,
        so guessing keys gets no answer for the rest of its window."""
        if self.auth_failures_per_minute <= 0:
            return
        until = self._shut_out.get(address)
        if until is not None:
            resets_in = until - _timer()
            if resets_in > 0:
                raise _refused(resets_in)

    async def count_failed_authentication(self, address: str) -> None:
        """Count a wrong API key or a refused customer token of ``address`` (its own scope: successes and the
        other scopes' calls are not counted there). Raises RateLimited when the allowance was spent already."""
        if self.auth_failures_per_minute <= 0:
            return
        count = await self.counter.hit(AUTH_FAILURES, address)
        if count.hits >= self.auth_failures_per_minute:
            self._shut_out[address] = _timer() + count.resets_in
        if count.hits > self.auth_failures_per_minute:
            raise _refused(count.resets_in)


def _refused(resets_in: float) -> RateLimited:
    retry_after = min(60, max(1, math.ceil(resets_in)))
    return RateLimited(
        "Too many requests from this address; try again later.",
        headers={"Retry-After": str(retry_after)},
    )


def client_address(request: Request) -> str:
    """The address limits are counted by: the peer, or the client a trusted proxy reported."""
    return request.client.host[:ADDRESS_LENGTH] if request.client else "unknown"


def rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def _limit(scope: str) -> Callable[[Request], Awaitable[None]]:
    # async: a plain ``def`` dependency would be sent to the thread pool for a dictionary update.
    async def dependency(request: Request) -> None:
        await rate_limiter(request).hit(scope, client_address(request))

    return dependency


SubmitLimit = Annotated[None, Depends(_limit("submit"))]
VerifyLimit = Annotated[None, Depends(_limit("verify"))]
DownloadLimit = Annotated[None, Depends(_limit("downloads"))]
