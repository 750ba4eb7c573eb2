"""The API first: the requests `serve` is answering, and a way for its embedded worker to let them go first.

One process, one event loop: while the embedded worker builds packages and sends emails, every step of an API
request waits behind the worker's steps, and a customer's POST took three to four times as long during a
backlog. So the API counts the requests it is answering (:class:`TrafficMiddleware`), and the embedded worker
waits for a quiet moment (:meth:`Traffic.quiet`) before each of its transactions (:func:`yielding_sessionmaker`).
Each wait is bounded (:data:`MAX_WAIT`): under a steady stream of requests the worker still moves on, more
slowly, and catches up once the stream ends. A request counts while the service works on it: not while it
waits for the client's body, and no longer once its answer's status line goes out (a
long download streaming to a slow client does not hold the worker back).

A standalone `worker` has no API beside it in its process; on a shared host it yields the CPU through its nice
value instead (WORKER_NICE).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token

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
            # Quiet only if it stays so past this step: a request reading a body that has already arrived
            # leaves and comes back without yielding, and must not release the worker meanwhile.
            asyncio.get_running_loop().call_soon(self._settle)

    def _settle(self) -> None:
        if self.in_flight == 0:
            self._quiet.set()

    async def quiet(self) -> None:
        """Return once no request is being answered, or after ``max_wait`` seconds whatever the traffic."""
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait)


class TrafficMiddleware:
    """Counts each HTTP request in :class:`Traffic` from its arrival until its status line is sent (or it
    ends without one), except while it waits for the client's body."""

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

        async def receive_uncounted() -> Message:
            # Waiting for the client (a body that trickles in, or never does) is not work: a slow or idle
            # upload must not hold the worker back.
            nonlocal counted
            if not counted:
                return await receive()
            counted = False
            self.traffic.leave()
            try:
                return await receive()
            finally:
                counted = True
                self.traffic.enter()

        try:
            await self.app(scope, receive_uncounted, send_and_count)
        finally:
            done()


# The yielding sessions this task has open, outermost first.
_open: ContextVar[tuple[AsyncSession, ...]] = ContextVar("yielding_sessions", default=())


def yielding_sessionmaker(
    engine: AsyncEngine, gate: Callable[[], Awaitable[None]]
) -> async_sessionmaker[AsyncSession]:
    """Sessions (``create_sessionmaker``'s) that await ``gate`` as they are opened (``async with``): the
    embedded worker's, with ``gate`` = :meth:`Traffic.quiet`. Each of the worker's sessions is one transaction
    (``unit_of_work``, ``read_only``), so it waits before each transaction, never inside one: a session opened
    while another of the same task has begun its transaction does not wait, as that transaction may hold locks
    (SQLite's write lock, PostgreSQL's row locks) that a request being answered is waiting for."""

    class YieldingSession(AsyncSession):
        _token: Token[tuple[AsyncSession, ...]]

        async def __aenter__(self) -> YieldingSession:
            outer = _open.get()
            if not any(session.in_transaction() for session in outer):
                await gate()
            self._token = _open.set((*outer, self))
            return self

        async def __aexit__(self, *exc: object) -> None:
            _open.reset(self._token)
            await super().__aexit__(*exc)

    return create_sessionmaker(engine, class_=YieldingSession)
