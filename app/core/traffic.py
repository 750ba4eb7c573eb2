"""The API first: the requests `serve` is answering, and a way for its embedded worker to let them go first.

One process, one event loop: while the embedded worker builds packages and sends emails, every step of an API
request waits behind the worker's steps, and a customer's POST took three to four times as long during a
backlog. So the API counts the requests it is answering (:class:`TrafficMiddleware`), and the embedded worker
waits for a quiet moment (:meth:`Traffic.quiet`) before each of its transactions (:func:`yielding_sessionmaker`).
Each wait is bounded (:data:`MAX_WAIT`): under a steady stream of requests the worker still moves on, more
slowly, and catches up once the stream ends. A request counts while the service works on it: not while it
waits for the client's body, and no longer once its answer's status line goes out (a
long download streaming to a slow client does not hold the worker back).

Between two transactions the worker takes many short steps (a read, a page of the package, an email), some
fifty for each small access request, and every one of them that is ready runs ahead of the next step of a
request being answered: a customer's POST took twice as long while the worker had work, though no step was long.
So `serve` runs on an :class:`ApiFirst` event loop: while a request is being answered, each step of the embedded
worker's tasks (``start_embedded_worker``) is held back, except in a transaction (which may hold locks a request
waits for). At each quiet moment one held step goes on; if the quiet lasts (:data:`QUIET_GRACE`), all do. Under a
steady stream, every held step goes on after :data:`MAX_WAIT`, and the worker then runs unheld for a share of that
(:data:`WORKER_SHARE`): a flood of requests, which anyone can send, slows the worker but cannot stop it.

A standalone `worker` has no API beside it in its process; on a shared host it yields the CPU through its nice
value instead (WORKER_NICE).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import Context, ContextVar, Token
from typing import Any, TypeVarTuple, Unpack

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.db import create_sessionmaker

# The longest the worker waits for a quiet moment at one step.
MAX_WAIT = 0.05
# How long a quiet moment must last for every held step of the embedded worker to go on (a client sending its next
# request at once after an answer is back within a fraction of this).
QUIET_GRACE = 0.002
# A request being answered for longer than this no longer holds the embedded worker's steps: it is waiting (a data
# source, a lock, a pool), maybe for something a held step of the worker would give back, and holding the worker
# no longer makes it any faster (a POST takes 3 to 5 ms of the process's time).
PATIENCE = 0.02
# After holding the embedded worker for MAX_WAIT, it runs unheld for this share of MAX_WAIT.
WORKER_SHARE = 0.2


class Traffic:
    """How many HTTP requests this process is answering; :meth:`quiet` waits until none."""

    def __init__(
        self, *, max_wait: float = MAX_WAIT, patience: float = PATIENCE, grace: float = QUIET_GRACE
    ) -> None:
        self.max_wait = max_wait
        self.patience = patience
        self.grace = grace
        self._quiet = asyncio.Event()
        self._quiet.set()
        # Called at each quiet moment (an ApiFirst loop's, while it holds the worker's steps for this traffic).
        self.on_quiet: Callable[[], None] | None = None
        # When each request being answered began (this stretch of it), oldest first.
        self._started: list[float] = []

    @property
    def in_flight(self) -> int:
        """How many requests are being answered."""
        return len(self._started)

    def enter(self) -> float:
        """A request is being answered; when it began (for :meth:`leave`)."""
        started = time.monotonic()
        self._started.append(started)
        self._quiet.clear()
        return started

    def leave(self, started: float | None = None) -> None:
        """The request that began at ``started`` (the oldest, if not given) is answered."""
        self._started.remove(self._started[0] if started is None else started)
        if self.in_flight == 0:
            # Quiet only if it stays so past this step: a request reading a body that has already arrived
            # leaves and comes back without yielding, and must not release the worker meanwhile.
            asyncio.get_running_loop().call_soon(self._settle)

    def _settle(self) -> None:
        if self.in_flight == 0:
            self._quiet.set()
            if self.on_quiet is not None:
                self.on_quiet()

    def holds_worker(self) -> bool:
        """Whether a request began less than ``patience`` (:data:`PATIENCE`) ago and is still being answered."""
        return bool(self._started) and time.monotonic() - self._started[-1] < self.patience

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
        started = self.traffic.enter()

        def done() -> None:
            nonlocal counted
            if counted:
                counted = False
                self.traffic.leave(started)

        async def send_and_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                done()
            await send(message)

        async def receive_uncounted() -> Message:
            # Waiting for the client (a body that trickles in, or never does) is not work: a slow or idle
            # upload must not hold the worker back.
            nonlocal counted, started
            if not counted:
                return await receive()
            counted = False
            self.traffic.leave(started)
            try:
                return await receive()
            finally:
                counted = True
                started = self.traffic.enter()

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
            # Still open while it closes: the close (a task of its own, which copies this context) may end a
            # transaction, and on SQLite that releases the write lock, so the API must not hold its steps.
            try:
                await super().__aexit__(*exc)
            finally:
                _open.reset(self._token)

    return create_sessionmaker(engine, class_=YieldingSession)


# True in the context of the embedded worker's task and of every task it starts (a task copies its creator's).
_EMBEDDED_WORKER: ContextVar[bool] = ContextVar("embedded_worker", default=False)


def start_embedded_worker(work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    """``work`` as the embedded worker's task: on an :class:`ApiFirst` loop whose traffic is set, its steps (and
    those of the tasks it starts) wait while the API answers."""
    token = _EMBEDDED_WORKER.set(True)
    try:
        return asyncio.create_task(work, name=name)
    finally:
        _EMBEDDED_WORKER.reset(token)


# A held step: its callback, arguments and context, and the handle its scheduling returned (cancelled: dropped).
_Step = tuple[Callable[..., object], tuple[Any, ...], Context, asyncio.Handle]
_Ts = TypeVarTuple("_Ts")


class ApiFirst(asyncio.AbstractEventLoop):
    """Mixed in before an event loop class: the embedded worker's steps wait while the API answers (module
    docstring). Every task step and every wake-up of a task waiting on a future is scheduled with ``call_soon``
    in that task's context, which tells the worker's steps from the API's."""

    _traffic: Traffic | None = None
    _held: deque[_Step]
    _held_since = 0.0
    _free_until = 0.0
    _recheck_timer: asyncio.TimerHandle | None = None
    _grace_timer: asyncio.TimerHandle | None = None

    def let_api_first(self, traffic: Traffic | None) -> None:
        """Hold the embedded worker's steps while ``traffic`` counts a request; None: no more (each held step goes
        on)."""
        if self._traffic is not None:
            self._traffic.on_quiet = None
        self._release_all()
        self._traffic = traffic
        if traffic is not None:
            traffic.on_quiet = self._quiet_moment

    def call_soon(
        self, callback: Callable[[Unpack[_Ts]], object], *args: *_Ts, context: Context | None = None
    ) -> asyncio.Handle:
        if self._traffic is not None and context is not None and context.get(_EMBEDDED_WORKER, False):
            scheduled: list[asyncio.Handle] = []
            handle = super().call_soon(self._worker_step, callback, args, context, scheduled, context=context)
            scheduled.append(handle)
            return handle
        return super().call_soon(callback, *args, context=context)

    def _worker_step(
        self,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: Context,
        scheduled: list[asyncio.Handle],
    ) -> None:
        traffic = self._traffic
        if (
            traffic is not None
            and traffic.holds_worker()
            and self.time() >= self._free_until
            and not _in_transaction(context)
        ):
            if not self._held:
                self._held_since = self.time()
                self._recheck_timer = self.call_later(min(traffic.patience, traffic.max_wait), self._recheck)
            self._held.append((callback, args, context, scheduled[0]))
            return
        if self._held and traffic is not None and traffic.in_flight:
            # Requests in flight, none fresh (each waits on something else): those held before go first.
            self._held.append((callback, args, context, scheduled[0]))
            self._release_all()
            return
        callback(*args)  # in ``context`` already: this wrapper was scheduled in it

    def _recheck(self) -> None:
        """Held steps go on once no fresh request holds them, or after ``max_wait`` however fresh the traffic."""
        self._recheck_timer = None
        traffic = self._traffic
        waited = self.time() - self._held_since
        if traffic is not None and waited >= traffic.max_wait:
            # Held as long as it may be: the worker runs unheld for its share before it can be held again.
            self._free_until = self.time() + WORKER_SHARE * traffic.max_wait
            self._release_all()
        elif traffic is None or not traffic.holds_worker():
            self._release_all()
        elif self._held:
            self._recheck_timer = self.call_later(
                min(traffic.patience, traffic.max_wait - waited), self._recheck
            )

    def _quiet_moment(self) -> None:
        """No request is being answered: one held step goes on now, and all of them if the quiet lasts."""
        if not self._held:
            return
        callback, args, context, handle = self._held.popleft()
        if not handle.cancelled():
            super().call_soon(callback, *args, context=context)
        if self._grace_timer is None and self._traffic is not None:
            self._grace_timer = self.call_later(self._traffic.grace, self._release_if_quiet)

    def _release_if_quiet(self) -> None:
        self._grace_timer = None
        if self._traffic is None or not self._traffic.holds_worker():
            self._release_all()

    def _release_all(self) -> None:
        """Every held step goes on, in the order they were held."""
        for timer in (self._recheck_timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._recheck_timer = self._grace_timer = None
        held: deque[_Step] = getattr(self, "_held", deque())
        self._held = deque()
        for callback, args, context, handle in held:
            if not handle.cancelled():
                super().call_soon(callback, *args, context=context)


def _in_transaction(context: Context) -> bool:
    """Whether the task of ``context`` has a transaction open in one of its yielding sessions."""
    return any(session.in_transaction() for session in context.get(_open, ()))


class ApiFirstLoop(ApiFirst, asyncio.SelectorEventLoop):
    """asyncio's own loop, the API first."""


def api_first_loop() -> asyncio.AbstractEventLoop:
    """`serve`'s event loop (uvicorn's ``loop`` setting takes this factory): uvloop where it is installed, as
    uvicorn would choose, else asyncio's own; either way with the embedded worker's steps held while the API
    answers (:class:`ApiFirst`)."""
    uvloop_class = _uvloop_class()
    return ApiFirstLoop() if uvloop_class is None else uvloop_class()


@functools.cache
def _uvloop_class() -> type[asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        return None

    class ApiFirstUvloop(ApiFirst, uvloop.Loop):  # type: ignore[misc]
        """uvloop, the API first."""

    return ApiFirstUvloop
