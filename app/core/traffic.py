"""The API first: the requests `serve` is answering, and a way for its embedded worker to let them go first.

One process, one event loop: while the embedded worker builds packages and sends emails, every step of an API
request waits behind the worker's steps, and a customer's POST took three to four times as long during a
backlog. So the API counts the requests it is answering (:class:`TrafficMiddleware`), and the embedded worker
waits for a quiet moment (:meth:`Traffic.quiet`) before each job and before each of its transactions
(:func:`yielding_sessionmaker`). Each wait is bounded (:data:`MAX_WAIT`): under a steady stream of requests the
worker still moves on, more slowly, and catches up once the stream ends. A request counts until its answer's
status line goes out: a long download streaming to a slow client does not hold the worker back.

A standalone `worker` has no API beside it in its process; on a shared host it yields the CPU through its nice
value instead (WORKER_NICE).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import create_sessionmaker

# The longest the worker waits for a quiet moment at one step.
MAX_WAIT = 0.05


class Traffic:
    """How many HTTP requests this process is answering; :meth:`quiet` waits until none."""

    def __init__(self, *, max_wait: float = MAX_WAIT) -> None:
        self.max_wait = max_wait
        self.in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def enter(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._quiet.set()

    async def quiet(self) -> None:
        """Return once no request is being answered, or after ``max_wait`` seconds whatever the traffic."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait)


class TrafficMiddleware:
    """Counts each HTTP request in :class:`Traffic` from its arrival until its status line is sent (or it
    ends without one)."""

    def __init__(self, app: ASGIApp, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = True
        self.traffic.enter()

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.traffic.leave()

        async def send_and_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                done()
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            done()


def yielding_sessionmaker(
    engine: AsyncEngine, gate: Callable[[], Awaitable[None]]
) -> async_sessionmaker[AsyncSession]:
    """Sessions (``create_sessionmaker``'s) that await ``gate`` before each transaction
    begins: at the first statement (``execute``, ``scalar``, ``scalars``), ``get``, flush or ``connection`` of
    each. The embedded worker's, with ``gate`` = :meth:`Traffic.quiet`. Never inside a transaction: one that
    holds locks (SQLite's write lock from its first statement, PostgreSQL's row locks) must not wait on
    requests that may be waiting for those locks."""

    class YieldingSession(AsyncSession):
        async def _before_transaction(self) -> None:
            if not self.in_transaction():
                await gate()

        async def connection(self, *args: Any, **kwargs: Any) -> Any:
            await self._before_transaction()
            return await super().connection(*args, **kwargs)

        async def execute(self, *args: Any, **kwargs: Any) -> Any:
            await self._before_transaction()
            return await super().execute(*args, **kwargs)

        async def scalar(self, *args: Any, **kwargs: Any) -> Any:
            await self._before_transaction()
            return await super().scalar(*args, **kwargs)

        async def get(self, *args: Any, **kwargs: Any) -> Any:
            await self._before_transaction()
            return await super().get(*args, **kwargs)

        async def flush(self, *args: Any, **kwargs: Any) -> None:
            await self._before_transaction()
            await super().flush(*args, **kwargs)

    return create_sessionmaker(engine, class_=YieldingSession)
