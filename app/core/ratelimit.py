"""Per-client-address rate limits on the public and app-facing endpoints (submit, verify, downloads).

A fixed one-minute window per (scope, address), kept in the process: each replica limits on its own, which
bounds abuse without a shared store. ``RATE_LIMIT_PER_MINUTE=0`` disables it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from app.core.errors import RateLimited

_MAX_TRACKED = 100_000


class RateLimiter:
    def __init__(self, per_minute: int, *, now: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._now = now
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def hit(self, scope: str, address: str) -> None:
        """Count one call; raise RateLimited with Retry-After once the window's allowance is spent."""
        if self.per_minute <= 0:
            return
        now = self._now()
        key = (scope, address)
        start, count = self._windows.get(key, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        if count >= self.per_minute:
            retry_after = max(1, math.ceil(60 - (now - start)))
            raise RateLimited(
                "Too many requests from this address; try again later.",
                headers={"Retry-After": str(retry_after)},
            )
        if len(self._windows) >= _MAX_TRACKED:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < 60}
        self._windows[key] = (start, count + 1)


def _limit(scope: str) -> Callable[[Request], Awaitable[None]]:
    # async: a plain ``def`` dependency would be sent to the thread pool for a dictionary update.
    async def dependency(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        address = request.client.host if request.client else "unknown"
        limiter.hit(scope, address)

    return dependency


SubmitLimit = Annotated[None, Depends(_limit("submit"))]
VerifyLimit = Annotated[None, Depends(_limit("verify"))]
DownloadLimit = Annotated[None, Depends(_limit("downloads"))]
