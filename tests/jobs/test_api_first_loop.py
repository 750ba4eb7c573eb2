"""`serve`'s event loop (app.core.traffic.ApiFirst): while a request is being answered, each step of the embedded
worker's tasks waits, except inside a transaction; at a quiet moment one goes on, all of them if the quiet lasts,
and under a steady stream every held step goes on after MAX_WAIT. Run on both loops `serve` may use."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker, read_only, unit_of_work
from app.core.traffic import (
    QUIET_GRACE,
    WORKER_SHARE,
    ApiFirst,
    ApiFirstLoop,
    Traffic,
    api_first_loop,
    start_embedded_worker,
    yielding_sessionmaker,
)
from app.main import create_app

LOOPS = pytest.mark.parametrize("new_loop", [ApiFirstLoop, api_first_loop], ids=["asyncio", "serve-default"])


def run_on(new_loop: Callable[[], asyncio.AbstractEventLoop], main: Coroutine[Any, Any, None]) -> None:
    """``main`` on a new loop of ``new_loop``; whatever it holds is let go at the end, even when it fails (its
    tasks can then be cancelled)."""

    async def guarded() -> None:
        try:
            await asyncio.wait_for(main, 20)
        finally:
            loop = asyncio.get_running_loop()
            assert isinstance(loop, ApiFirst)
            loop.let_api_first(None)

    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(guarded())


class Steps:
    """A task that counts its steps: each ``await asyncio.sleep(0)`` ends one."""

    def __init__(self) -> None:
        self.count = 0
        self.stop = False

    async def run(self) -> None:
        while not self.stop:
            self.count += 1
            await asyncio.sleep(0)


class Trace:
    """The embedded worker's jobs, one per name, each writing its name down at each of its steps."""

    def __init__(self, names: str) -> None:
        self.names: list[str] = []
        self.stop = False
        self.tasks = [start_embedded_worker(self._run(name), name=name) for name in names]

    async def _run(self, name: str) -> None:
        while not self.stop:
            self.names.append(name)
            await asyncio.sleep(0)

    async def end(self) -> None:
        self.stop = True
        await asyncio.gather(*self.tasks)


async def api_steps(count: int) -> None:
    """A request being answered: ``count`` steps of its own."""
    for _ in range(count):
        await asyncio.sleep(0)


def test_serve_uses_uvloop_where_it_is_installed() -> None:
    loop = api_first_loop()
    try:
        assert isinstance(loop, ApiFirst)
        assert type(loop).__mro__[2].__module__ == "uvloop"
    finally:
        loop.close()


@LOOPS
def test_the_worker_steps_wait_while_a_request_is_answered(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)  # no bound here: the wait ends when the request does
        loop.let_api_first(traffic)
        jobs, bystander = [Steps() for _ in range(3)], Steps()
        working = [start_embedded_worker(job.run(), name="worker") for job in jobs]
        standing = asyncio.create_task(bystander.run())  # not the worker's: never held
        await api_steps(5)
        assert all(job.count >= 5 for job in jobs)

        traffic.enter()
        before, bystander_before = [job.count for job in jobs], bystander.count
        await api_steps(200)
        # At most the step each had scheduled when the request came.
        assert max(job.count - start for job, start in zip(jobs, before, strict=True)) <= 1
        assert bystander.count - bystander_before >= 150

        traffic.leave()
        await api_steps(3)  # a quiet moment: one held step goes on
        # (the three steps held, the one released, and its next: at most five)
        assert sum(job.count - start for job, start in zip(jobs, before, strict=True)) <= 5
        await asyncio.sleep(QUIET_GRACE * 5)  # the quiet lasted: every held step went on
        await api_steps(20)
        assert all(job.count - start >= 15 for job, start in zip(jobs, before, strict=True))

        for job in [*jobs, bystander]:
            job.stop = True
        await asyncio.gather(*working, standing)

    run_on(new_loop, main())


@LOOPS
def test_under_a_steady_stream_the_worker_is_held_for_max_wait_then_runs_for_its_share(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # A flood of requests (anyone can send them) slows the embedded worker but cannot stop it: held for MAX_WAIT,
    # it then runs unheld for WORKER_SHARE of it, again and again.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=0.2, patience=60.0)
        loop.let_api_first(traffic)
        worker = Steps()
        traffic.enter()  # never quiet in this test, and the request stays fresh
        working = start_embedded_worker(worker.run(), name="worker")
        await asyncio.sleep(0.1)  # within MAX_WAIT: held
        assert worker.count <= 1
        rounds: list[int] = []
        for _ in range(3):  # each MAX_WAIT and share: the worker ran
            before = worker.count
            await asyncio.sleep(traffic.max_wait * (1 + WORKER_SHARE))
            rounds.append(worker.count - before)
        assert all(steps >= 5 for steps in rounds), rounds
        traffic.leave()
        worker.stop = True
        await working

    run_on(new_loop, main())


@LOOPS
def test_a_held_step_goes_on_in_its_own_task_context(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # A held step goes on later, from a timer or a quiet moment: it must still see its own task's context (the
    # job's log scope, the sessions it has open), as its child tasks do.
    job: contextvars.ContextVar[str] = contextvars.ContextVar("job", default="none")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=0.02, patience=60.0)
        loop.let_api_first(traffic)
        seen: list[str] = []

        async def child() -> None:
            await asyncio.sleep(0)
            seen.append(job.get())

        async def worker() -> None:
            job.set("job 7")
            for _ in range(5):
                await asyncio.sleep(0)
                seen.append(job.get())
            await asyncio.create_task(child())

        traffic.enter()
        working = start_embedded_worker(worker(), name="worker")
        await asyncio.sleep(0.1)  # held, then let go by MAX_WAIT
        traffic.leave()
        await asyncio.wait_for(working, 5)
        assert seen == ["job 7"] * 6
        assert job.get() == "none"
        loop.let_api_first(None)

    run_on(new_loop, main())


@LOOPS
def test_inside_a_transaction_the_worker_steps_never_wait(
    new_loop: Callable[[], asyncio.AbstractEventLoop], tmp_path: Path
) -> None:
    # A transaction may hold locks (SQLite's write lock, PostgreSQL's row locks) that a request being answered
    # waits for: once begun, it runs to its end; the worker's next steps outside it wait again.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)
        loop.let_api_first(traffic)
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}")
        sessions = yielding_sessionmaker(engine, traffic.quiet)
        in_transaction = asyncio.Event()
        steps_inside: list[int] = []
        after = Steps()

        async def worker() -> None:
            async with sessions() as session:
                await session.execute(text("CREATE TABLE t (n INTEGER)"))
                in_transaction.set()
                for n in range(50):
                    await session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                    steps_inside.append(n)
                await session.commit()
            await after.run()

        working = start_embedded_worker(worker(), name="worker")
        await asyncio.wait_for(in_transaction.wait(), 5)
        traffic.enter()  # a request arrives while the transaction is open
        for _ in range(200):
            if len(steps_inside) == 50:
                break
            await asyncio.sleep(0.01)
        assert len(steps_inside) == 50, "the transaction ran to its end"
        await asyncio.sleep(0.1)
        assert after.count <= 2, "outside it, the worker waited again"
        traffic.leave()
        await asyncio.sleep(QUIET_GRACE * 5)
        after.stop = True
        await asyncio.wait_for(working, 5)
        assert after.count >= 2
        await engine.dispose()
        loop.let_api_first(None)

    run_on(new_loop, main())


@LOOPS
def test_once_let_go_every_held_step_goes_on(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    # The app's shutdown lets go of the traffic: nothing stays held, whatever the requests still open.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)
        loop.let_api_first(traffic)
        worker = Steps()
        traffic.enter()
        working = start_embedded_worker(worker.run(), name="worker")
        await api_steps(50)
        held = worker.count
        assert held <= 1
        loop.let_api_first(None)
        await api_steps(20)
        assert worker.count >= held + 15
        worker.stop = True
        await working

    run_on(new_loop, main())


def test_serve_with_its_worker_holds_the_worker_steps_while_its_api_answers(settings: Settings) -> None:
    # What create_app does on serve's loop: its traffic is the one the worker's steps wait for, from start-up
    # to shut-down; without the embedded worker, nothing is held.
    async def main() -> None:
        for run_worker in (True, False):
            application = create_app(settings, run_worker=run_worker)
            async with application.router.lifespan_context(application):
                traffic: Traffic = application.state.traffic
                traffic.max_wait = traffic.patience = 60.0
                job = Steps()
                traffic.enter()
                working = start_embedded_worker(job.run(), name="worker")
                await api_steps(50)
                assert (job.count <= 1) is run_worker
                traffic.leave()
                job.stop = True
                await asyncio.wait_for(working, 5)
            # Shut down: no longer held, whatever the traffic.
            job = Steps()
            traffic.enter()
            working = start_embedded_worker(job.run(), name="worker")
            await api_steps(50)
            assert job.count >= 40
            job.stop = True
            await working

    run_on(api_first_loop, main())


@LOOPS
def test_a_request_answered_longer_than_patience_no_longer_holds_the_worker(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # A request that waits (a data source, a pool, a lock the worker holds outside any transaction) gains nothing
    # from holding the worker, and may be waiting for it: after PATIENCE it holds it no longer.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0)  # the default patience
        loop.let_api_first(traffic)
        shared = asyncio.Lock()
        worker_has_it = asyncio.Event()

        async def worker() -> None:
            async with shared:  # held across many steps, outside any transaction
                worker_has_it.set()
                for _ in range(20):
                    await asyncio.sleep(0)

        working = start_embedded_worker(worker(), name="worker")
        await asyncio.wait_for(worker_has_it.wait(), 5)
        started = traffic.enter()  # a request that needs what the worker holds
        async with asyncio.timeout(5):  # not MAX_WAIT (60 s here) for each of the worker's steps
            async with shared:
                pass
        traffic.leave(started)
        await asyncio.wait_for(working, 5)

    run_on(new_loop, main())


@LOOPS
def test_a_session_closing_releases_its_lock_before_the_worker_waits(
    new_loop: Callable[[], asyncio.AbstractEventLoop], tmp_path: Path
) -> None:
    # A read on SQLite holds the write lock until its session closes (its rollback): a request that arrives while
    # the worker reads gets the lock as soon as that read is done, not after the worker's next wait.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)
        loop.let_api_first(traffic)
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'close.db'}")
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
        worker_sessions = yielding_sessionmaker(engine, traffic.quiet)
        reading = asyncio.Event()

        async def worker() -> None:
            async with read_only(worker_sessions) as session:
                await session.execute(text("SELECT count(*) FROM t"))
                reading.set()
                await asyncio.sleep(0.05)
            await Steps().run()  # the worker's next steps: held while the request is answered

        working = start_embedded_worker(worker(), name="worker")
        await asyncio.wait_for(reading.wait(), 5)
        started = traffic.enter()  # a request arrives while the worker reads
        async with asyncio.timeout(5):  # not the worker's next wait (60 s here)
            async with unit_of_work(create_sessionmaker(engine)) as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
        traffic.leave(started)
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
        await engine.dispose()

    run_on(new_loop, main())


@LOOPS
def test_held_steps_go_on_in_the_order_they_were_held_and_a_new_request_holds_them_again(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)
        loop.let_api_first(traffic)
        jobs = Trace("abc")
        await api_steps(5)
        traffic.enter()
        await api_steps(20)
        held_at = len(jobs.names)
        traffic.leave()
        await api_steps(1)  # the quiet moment: the first held step goes on
        again = traffic.enter()  # and a request comes within the grace: the others stay held
        await asyncio.sleep(QUIET_GRACE * 10)
        after_grace = jobs.names[held_at:]
        assert set(after_grace) <= {"a"}
        traffic.leave(again)
        await asyncio.sleep(QUIET_GRACE * 5)
        await api_steps(5)
        released = list(dict.fromkeys(jobs.names[held_at:]))
        assert released == ["a", "b", "c"]  # first in, first out
        await jobs.end()

    run_on(new_loop, main())


@LOOPS
def test_a_held_step_whose_handle_is_cancelled_does_not_run(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0)
        loop.let_api_first(traffic)
        worker_context: list[contextvars.Context] = []

        async def worker() -> None:
            worker_context.append(contextvars.copy_context())

        await start_embedded_worker(worker(), name="worker")
        ran: list[str] = []
        traffic.enter()
        # The first goes at the quiet moment, the others once the quiet lasts: a cancelled one at each.
        first = loop.call_soon(ran.append, "first", context=worker_context[0])
        kept = loop.call_soon(ran.append, "kept", context=worker_context[0])
        last = loop.call_soon(ran.append, "last", context=worker_context[0])
        await api_steps(5)
        assert ran == []  # held
        first.cancel()
        last.cancel()
        traffic.leave()
        await asyncio.sleep(QUIET_GRACE * 5)
        assert ran == ["kept"]
        assert not kept.cancelled()

    run_on(new_loop, main())


@LOOPS
def test_under_a_steady_stream_the_held_steps_go_on_in_the_order_they_were_held(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=0.05, patience=60.0)
        loop.let_api_first(traffic)
        jobs = Trace("abc")
        await api_steps(5)
        started = traffic.enter()  # never quiet until the end
        await api_steps(5)
        held_at = len(jobs.names)
        await asyncio.sleep(0.08)  # MAX_WAIT: every held step goes on
        assert list(dict.fromkeys(jobs.names[held_at:]))[:3] == ["a", "b", "c"]
        traffic.leave(started)
        await jobs.end()

    run_on(new_loop, main())


@LOOPS
def test_at_a_quiet_moment_one_held_step_goes_on_and_the_others_wait_for_the_quiet_to_last(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, ApiFirst)
        traffic = Traffic(max_wait=60.0, patience=60.0, grace=60.0)  # the quiet never lasts long enough here
        loop.let_api_first(traffic)
        jobs = Trace("abc")
        await api_steps(5)
        traffic.enter()
        await api_steps(20)
        held_at = len(jobs.names)
        traffic.leave()
        await api_steps(30)  # quiet: the first held job goes on, step after step; the other two still wait
        assert jobs.names[held_at:]
        assert set(jobs.names[held_at:]) == {"a"}
        loop.let_api_first(None)
        await jobs.end()

    run_on(new_loop, main())
