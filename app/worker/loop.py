"""The worker loop: claim due jobs with a lease, run them, retry with backoff and jitter, give up when the
kind's retry policy is spent (a number of attempts, or a time since the job was queued). A job's attempts are
its only retries: what it calls inside (a data source) tries once per call.

Any number of workers may run against one PostgreSQL database: claiming uses ``FOR UPDATE SKIP LOCKED`` and
every state change checks that this worker still holds the lease. An idle worker sleeps until the poll
interval passes or it is woken: in-process by the API (same process) or by PostgreSQL ``NOTIFY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.correlation import job_scope
from app.core.db import JOBS_ENQUEUED, read_only, statements_alone, unit_of_work
from app.jobs import repository
from app.jobs.errors import PermanentError
from app.models import Job

log = logging.getLogger("app.worker")

NOTIFY_CHANNEL = "privacy_jobs"


Handler = Callable[[AsyncSession, Job], Awaitable[None]]
DeadHook = Callable[[AsyncSession, Job, str], Awaitable[None]]
# What the claimed jobs of one kind will read, read for all of them at once: {job id: value for its run}.
Prefetch = Callable[[AsyncSession, list[Job]], Awaitable[dict[Any, Any]]]
Periodic = Callable[[], Awaitable[None]]
# How long a job that left its finishing record for later (an email sent) waits for others to record with it.
FINISH_WITHIN = timedelta(milliseconds=5)
# Retention is counted in days: a pass a minute keeps up, where one per poll interval cost a dozen transactions
# a second in every idle worker.
HOUSEKEEPING_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class RetryPolicy:
    """How a kind of job is retried after a failed attempt: exponential backoff from ``base`` with jitter, each
    wait at most ``max_delay``, until ``max_attempts`` attempts were made or ``retry_for`` has passed since the
    job was queued (whichever is set; neither: the count stored on the job row)."""

    base: timedelta
    max_attempts: int | None = None
    retry_for: timedelta | None = None
    max_delay: timedelta | None = None

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt.

        The ceiling doubles from ``base`` up to ``max_delay``; the wait is drawn between half the ceiling and the
        ceiling ("equal jitter"), so jobs that failed together on one outage do not all come back at once.
        """
        # Counted in float seconds with a bounded exponent: a job retried for days makes ~100 attempts, and
        # 2**100 base periods overflow a timedelta.
        ceiling = self.base.total_seconds() * 2.0 ** min(attempts - 1, 60)
        if self.max_delay is not None:
            ceiling = min(ceiling, self.max_delay.total_seconds())
        return timedelta(seconds=ceiling * random.uniform(0.5, 1.0))

    def next_attempt(self, job: Job, *, now: datetime) -> datetime | None:
        """When to try ``job`` again after its latest failed attempt; None when its budget is spent."""
        if self.retry_for is not None:
            # The last attempt falls on the budget's end: a receiver back just before it is still served.
            give_up_at = clock.as_utc(job.created_at) + self.retry_for
            if now >= give_up_at:
                return None
            return min(now + self.delay(job.attempts), give_up_at)
        max_attempts = self.max_attempts if self.max_attempts is not None else job.max_attempts
        if job.attempts >= max_attempts:
            return None
        return now + self.delay(job.attempts)


@dataclass(eq=False)
class _Round:
    """One claimed batch, from its claim to its end: the heartbeat keeping its leases, and what is left of it once
    its jobs ran (records waiting for the finisher, the jobs those records queued for this worker)."""

    number: int
    heartbeat: asyncio.Task[None]
    left: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.settled.set()

    def add(self) -> None:
        self.left += 1
        self.settled.clear()

    def settle(self) -> None:
        self.left -= 1
        if not self.left:
            self.settled.set()

    def settle_with(self, _task: asyncio.Task[None]) -> None:
        """A job of the round (claimed or born) is done: a task's done callback."""
        self.settle()

    @staticmethod
    def settle_all(rounds: list[_Round | None]) -> None:
        for round_ in rounds:
            if round_ is not None:
                round_.settle()


# The round a job, a record or a born job belongs to: set for the round's jobs, inherited by the tasks they start.
_ROUND: ContextVar[_Round | None] = ContextVar("worker_round", default=None)


@dataclass
class Worker:
    sessionmaker: async_sessionmaker[AsyncSession]
    handlers: dict[str, Handler]
    on_dead: DeadHook
    poll_interval: timedelta = timedelta(seconds=1)
    lease: timedelta = timedelta(seconds=60)
    retry_base: timedelta = timedelta(seconds=2)
    batch_size: int = 10
    concurrency: int = 4
    periodic: Periodic | None = None
    # Run at most once per housekeeping_interval (and never more often than ``periodic``).
    housekeeping: Periodic | None = None
    housekeeping_interval: timedelta = HOUSEKEEPING_INTERVAL
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # JOB_MAX_ATTEMPTS: when set, it wins over the count stored on each job row, so changing the setting
    # applies to jobs already queued.
    max_attempts: int | None = None
    # Kinds retried otherwise than by ``retry_base`` and ``max_attempts`` (webhook deliveries: for days).
    retry_policies: dict[str, RetryPolicy] = field(default_factory=dict)
    # Kinds that a job of this worker runs itself right after its own transaction commits, when it queues them
    # (the email a finished package or erasure sends): born leased to this worker, never claimed.
    run_at_once: frozenset[str] = frozenset()
    # Per kind: one read, after the claim, of what each claimed job of that kind reads first (an email job's
    # row), handed to each run (``repository.PREFETCHED``): one statement a round, not a session a job.
    prefetch: dict[str, Prefetch] = field(default_factory=dict)
    finish_within: timedelta = FINISH_WITHIN
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    # Jobs that left their finishing record for later (``repository.FINISH_LATER``), the rounds they belong to
    # (in step), and the task recording them.
    _finishing: list[tuple[Job, repository.FinishLater]] = field(default_factory=list)
    _finishing_rounds: list[_Round | None] = field(default_factory=list)
    _finisher: asyncio.Task[None] | None = None
    # Set while rounds are under way but none of their claimed jobs is left to run (none whose record could go
    # with the others'): the finisher records at once instead of waiting for the window.
    _round_over: asyncio.Event = field(default_factory=asyncio.Event)
    # The slots (``concurrency``) of the claimed jobs, shared by the rounds under way (at most two), and as many
    # for the jobs born of their records (emails: they read no source), which so never wait behind the next
    # round's jobs; the tasks running jobs (claimed or born); the claimed jobs not done yet; the rounds under way
    # and the number of the last one.
    _slots: asyncio.Semaphore | None = None
    _born_slots: asyncio.Semaphore | None = None
    _running: set[asyncio.Task[None]] = field(default_factory=set)
    _claimed_left: int = 0
    _rounds_under_way: int = 0
    _rounds: int = 0
    # Jobs of this worker inside their handler's transaction right now.
    _working: int = 0

    def wake(self) -> None:
        """Ask the loop to look for work now (safe to call from any coroutine in this loop)."""
        self._wake.set()

    async def aclose(self) -> None:
        """Release what the handlers hold (pooled SMTP connections); call after ``run`` has returned."""
        for close in self.closers:
            await close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Work until stopped; a failing iteration is logged and the loop goes on.

        A round's end (its last records, then the emails they queue, and their records) goes on while the next
        batch is claimed and run: the next claim does not wait for the last email of the round before. At most
        two rounds are under way, one at work and one ending: the claim after waits for that end.
        """
        log.info("worker %s started", self.worker_id)
        last_periodic = last_housekeeping = float("-inf")
        loop = asyncio.get_running_loop()
        ending: asyncio.Task[None] | None = None
        try:
            while not self._stopping:
                # Cleared before the claim: a wake from now on is for a commit the claim below may not see, so it
                # brings the loop round again instead of letting it wait.
                self._wake.clear()
                worked = 0
                try:
                    # The sweep runs at most once per poll interval, however busy the worker is.
                    if (
                        self.periodic is not None
                        and loop.time() - last_periodic >= self.poll_interval.total_seconds()
                    ):
                        last_periodic = loop.time()
                        await self.periodic()
                    if (
                        self.housekeeping is not None
                        and loop.time() - last_housekeeping
                        >= max(self.housekeeping_interval, self.poll_interval).total_seconds()
                    ):
                        last_housekeeping = loop.time()
                        await self.housekeeping()
                    worked, round_ = await self._run_round()
                    if round_ is not None:
                        previous, ending = ending, asyncio.create_task(self._end_round(round_))
                        if previous is not None:
                            await previous
                except (OSError, OperationalError, InterfaceError) as exc:
                    # The database is unreachable (a restart, a failover): one line per poll, not a traceback.
                    log.warning(
                        "database unavailable, retrying after the poll interval: %s", type(exc).__name__
                    )
                    worked = 0
                except Exception:
                    log.exception("worker iteration failed; retrying after the poll interval")
                    worked = 0
                # A full batch may have left due jobs behind: claim again at once. A smaller one took every job
                # that was due when it was claimed, so the loop waits for a wake (a job queued since: by the API in
                # this process, by this worker's own jobs, or by any process through NOTIFY) or for the poll
                # interval (a retry coming due, a dead worker's lease running out), instead of one more empty
                # claim. The last round's end goes on meanwhile.
                if worked < self.batch_size and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval.total_seconds())
            if ending is not None:
                await ending
        finally:
            # Cancelled (shut down past the grace): the round ending stops with it.
            if ending is not None and not ending.done():
                ending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ending

    async def run_once(self) -> int:
        """Claim one batch and run it to its end (its records, the jobs they queue, theirs); the number claimed."""
        claimed, round_ = await self._run_round()
        if round_ is not None:
            await self._end_round(round_)
        return claimed

    async def _run_round(self) -> tuple[int, _Round | None]:
        """Claim one batch and run its jobs; the number claimed, and the round (None when nothing was claimed),
        which ``_end_round`` must end."""
        # In a transaction, though it is one statement: should its answer be lost with the connection, the claim
        # rolls back, where committed alone it would leave the jobs leased to this worker, which would not know
        # of them (its heartbeat might then renew their leases for as long as its rounds are long).
        async with unit_of_work(self.sessionmaker) as session:
            jobs = await repository.claim(
                session, worker_id=self.worker_id, lease=self.lease, limit=self.batch_size
            )
        if not jobs:
            return 0, None
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        if self._slots is None or self._born_slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
            self._born_slots = asyncio.Semaphore(self.concurrency)
        slots = self._slots
        prefetched: dict[Any, Any] = {}
        # The claimed jobs not yet at work (waiting for a slot); once none is, the next batch may be claimed.
        waiting = {job.id for job in jobs}
        all_at_work = asyncio.Event()

        def at_work(job_id: int, _task: asyncio.Task[None] | None = None) -> None:
            """The job took its slot (or its task ended without one: cancelled)."""
            waiting.discard(job_id)
            if not waiting:
                all_at_work.set()

        async def guarded(job: Job) -> None:
            async with slots:
                at_work(job.id)
                # What was read for it right after the claim, while the claim's own lease surely holds (a third of
                # it: no other worker can have taken the job since, whatever became of the heartbeat); a job that
                # waited longer behind slow ones reads for itself, now.
                fresh = loop.time() - claimed_at < self.lease.total_seconds() / 3
                await self._execute_apart(job, prefetched=prefetched.get(job.id) if fresh else None)

        # One heartbeat for the whole batch, from the claim to the round's end: a claimed job waiting for its turn
        # behind slow ones must keep its lease too, or another worker would take it and both would run it.
        self._rounds += 1
        self._rounds_under_way += 1
        round_ = _Round(self._rounds, heartbeat=asyncio.create_task(self._heartbeat()))
        token = _ROUND.set(round_)  # the jobs' tasks, and those they start, carry it
        try:
            prefetched = await self._prefetch(jobs)
            for job in jobs:
                task = self._start(guarded(job), round_)
                self._claimed_left += 1
                task.add_done_callback(self._claimed_done)
                task.add_done_callback(functools.partial(at_work, job.id))  # or gone without a slot
            self._rounds_changed()
            # Every job of the round at work (none waits for a slot): the next batch may be claimed, its jobs
            # taking the slots this round's leave.
            await all_at_work.wait()
        except BaseException:
            # Cancelled (shut down past the grace): what is left of the worker's work stops here, as when a round's
            # end is cancelled; the leases hand it over.
            await self._round_gone(round_, also=self._all_work())
            raise
        finally:
            _ROUND.reset(token)
        return len(jobs), round_

    async def _end_round(self, round_: _Round) -> None:
        """Wait for what is left of ``round_``: its jobs still at work, their records (made at once when no claimed
        job is left to record with), the jobs those records queue for this worker, and theirs; its leases are held
        until then."""
        also: list[asyncio.Task[None]] = []
        try:
            await round_.settled.wait()
        except asyncio.CancelledError:
            # Shut down past the grace: what is left of the worker's work stops here; the leases hand it over.
            also = self._all_work()
            raise
        finally:
            await self._round_gone(round_, also=also)

    async def _round_gone(self, round_: _Round, *, also: list[asyncio.Task[None]]) -> None:
        """``round_`` is over: its heartbeat stops, and ``also`` (what is left of the worker's work, when the round
        was cancelled) is cancelled and waited for."""
        self._rounds_under_way -= 1
        self._rounds_changed()
        if not self._rounds_under_way:
            self._slots = self._born_slots = None
        stopping = [round_.heartbeat, *also]
        for task in stopping:
            task.cancel()
        await asyncio.wait(stopping)

    def _all_work(self) -> list[asyncio.Task[None]]:
        """The tasks running jobs, and the finisher."""
        return [*self._running, *([self._finisher] if self._finisher is not None else [])]

    def _rounds_changed(self) -> None:
        if self._rounds_under_way and not self._claimed_left:
            self._round_over.set()
        else:
            self._round_over.clear()

    def _start(self, work: Coroutine[Any, Any, None], round_: _Round | None) -> asyncio.Task[None]:
        """Run ``work`` (a job) in a task of its own, counted in ``round_`` until it is done."""
        task = asyncio.create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        if round_ is not None:
            round_.add()
            task.add_done_callback(round_.settle_with)
        return task

    def _claimed_done(self, _task: asyncio.Task[None]) -> None:
        self._claimed_left -= 1
        self._rounds_changed()

    async def _execute_apart(self, job: Job, *, handed_over: Any = None, prefetched: Any = None) -> None:
        """``execute``, for a job running in a task of its own: a failure it could not even record (the database
        gone) is logged, and the job runs again once its lease runs out."""
        try:
            await self.execute(job, handed_over=handed_over, prefetched=prefetched)
        except (OSError, OperationalError, InterfaceError) as exc:
            log.warning(
                "job %s: database unavailable, it runs again after its lease: %s", job.id, type(exc).__name__
            )
        except Exception:
            log.exception("job %s: its outcome could not be recorded; it runs again after its lease", job.id)

    async def _prefetch(self, jobs: list[Job]) -> dict[Any, Any]:
        """What the claimed jobs read first, read for each kind that has a ``prefetch`` in one statement outside
        any transaction (one session for the lot); nothing for a kind whose read fails (its jobs then read for
        themselves, as without it)."""
        prefetched: dict[Any, Any] = {}
        by_kind: dict[str, list[Job]] = {}
        for job in jobs:
            if job.kind in self.prefetch:
                by_kind.setdefault(job.kind, []).append(job)
        if not by_kind:
            return prefetched
        try:
            async with read_only(self.sessionmaker) as session:
                for kind, of_kind in by_kind.items():
                    try:
                        prefetched.update(await self.prefetch[kind](session, of_kind))
                    except Exception:
                        log.warning("could not read ahead for %s %s jobs", len(of_kind), kind, exc_info=True)
        except Exception:  # no connection: each job reads for itself (and meets the database's state itself)
            log.warning("could not read ahead for the round's %s jobs", len(jobs), exc_info=True)
        return prefetched

    async def run_until_idle(self, *, max_rounds: int = 1000) -> int:
        """Run batches until none is due (tests and the CLI); the number of jobs run."""
        total = 0
        for _ in range(max_rounds):
            if self.periodic is not None:
                await self.periodic()
            if self.housekeeping is not None:
                await self.housekeeping()
            ran = await self.run_once()
            if ran == 0:
                return total
            total += ran
        return total

    async def execute(self, job: Job, *, handed_over: Any = None, prefetched: Any = None) -> None:
        """Run one claimed job in its own unit of work; on failure, retry with backoff or give up. Then run the
        jobs it queued born leased to this worker (``run_at_once``), each with what it handed over to that run.
        ``prefetched``: what this kind's ``prefetch`` read for the job, given to its run.

        The caller keeps the lease alive (see ``run_once``).
        """
        # Every log line of the job carries its id and kind; a data source called from inside makes one
        # attempt per call, as the job's own retries below are the job's one retry budget.
        with job_scope(str(job.id), job.kind):
            handler = self.handlers.get(job.kind)
            born: list[tuple[Job, Any]] = []
            later: repository.FinishLater | None = None
            self._working += 1
            try:
                if handler is None:
                    raise PermanentError(f"no handler for job kind {job.kind!r}")
                async with unit_of_work(self.sessionmaker) as session:
                    if handed_over is not None:
                        session.info[repository.HANDED_TO_RUN] = handed_over
                    if prefetched is not None:
                        session.info[repository.PREFETCHED] = prefetched
                    self._lease_new_jobs(session)
                    await handler(session, job)
                    later = session.info.pop(repository.FINISH_LATER, None)
                    if later is None:
                        await self._record_and_finish(session, job, None)  # with the handler's writes
                # Committed: the jobs it queued for this worker exist, leased to it; any other job it queued is
                # for the next claim.
                born = self._born_of(session)
                if later is not None:
                    handed_on, later = later, None
                    if self._working > 1 or self._finishing:
                        # Other jobs are at work, or left records still waiting: recorded with theirs.
                        self._finish_soon(job, handed_on)
                    else:
                        # Recorded at once, as a record waiting for nobody would only cost a round trip more (and
                        # a moment a customer acting on the email may notice).
                        born += await self._finish_alone(job, handed_on)
            except _LeaseLost:
                log.warning("job %s: lease lost to another worker; its work was rolled back", job.id)
            except Exception as exc:
                if later is not None:  # its handler's transaction did not commit: the record will not be made
                    await self._abandon(later)
                await self._failed(job, exc)
            finally:
                self._working -= 1
        for queued_by_it, value in born:
            await self.execute(queued_by_it, handed_over=value)

    def _lease_new_jobs(self, session: AsyncSession) -> None:
        """Jobs of the ``run_at_once`` kinds that ``session`` queues are born leased to this worker."""
        if self.run_at_once:
            session.info[repository.LEASE_TO] = repository.NewJobLease(
                self.worker_id, self.lease, self.run_at_once
            )

    def _born_of(self, session: AsyncSession) -> list[tuple[Job, Any]]:
        """After ``session`` committed: the jobs it queued born leased to this worker, each with what was handed
        over to its run; the loop is woken for those it queued for the next claim."""
        self._woken_by(session)
        handed: dict[int, Any] = session.info.pop(repository.HANDED_OVER, {})
        return [(job, handed.get(id(job))) for job in session.info.pop(repository.BORN_LEASED, [])]

    def _start_born(self, born: list[tuple[Job, Any]]) -> None:
        """Start born jobs side by side (a batch of packages' emails: their records go together in turn), each
        in one of the round's slots; the round ends once they are done. The finisher does not wait for them: the
        next batch's records do not wait behind a slow mail server."""
        round_ = _ROUND.get()
        for job, value in born:
            self._start(self._run_born(job, value), round_)

    async def _run_born(self, job: Job, handed_over: Any) -> None:
        if self._born_slots is None:  # outside a round (a test running one job)
            await self._execute_apart(job, handed_over=handed_over)
            return
        async with self._born_slots:
            await self._execute_apart(job, handed_over=handed_over)

    def _finish_soon(self, job: Job, later: repository.FinishLater) -> None:
        """Record ``later`` and finish ``job`` within ``finish_within`` (or as the round ends, if sooner), together
        with whatever other jobs leave their record meanwhile (a burst's emails: two statements for the lot, not
        two each). Not only at the end of the round: a slow job beside it (a large export) must not keep a sent
        email marked pending."""
        self._finishing.append((job, later))
        round_ = _ROUND.get()
        self._finishing_rounds.append(round_)
        if round_ is not None:
            round_.add()
        if self._finisher is None or self._finisher.done():
            self._finisher = asyncio.create_task(self._finish_while_any())

    async def _finish_while_any(self) -> None:
        # No await between the last check and returning: a job leaving its record after it sees the task done.
        try:
            while self._finishing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._round_over.wait(), self.finish_within.total_seconds())
                finishing, self._finishing = self._finishing, []
                rounds, self._finishing_rounds = self._finishing_rounds, []
                # The jobs the batch's records queue belong to the latest of its rounds (which ends after them).
                latest = max((r for r in rounds if r is not None), key=lambda r: r.number, default=None)
                token = _ROUND.set(latest)
                try:
                    await self._finish_batch(finishing)
                except Exception:
                    # Not expected (each way of recording catches its own failures): the batch's jobs run again
                    # once their leases run out, and the records left meanwhile are still made.
                    log.exception("could not record %s finished jobs", len(finishing))
                finally:
                    _ROUND.reset(token)
                    _Round.settle_all(rounds)
        except asyncio.CancelledError:
            # Not to be recorded, those waiting and any left while they are abandoned: nothing is left of them for
            # their rounds to wait for.
            while self._finishing:
                waiting, self._finishing = self._finishing, []
                rounds, self._finishing_rounds = self._finishing_rounds, []
                _Round.settle_all(rounds)
                await self._abandon_all(waiting)
            raise

    async def _finish_batch(self, finishing: list[tuple[Job, repository.FinishLater]]) -> None:
        """Record what the jobs left for later and finish those jobs: one statement for the records of a kind and
        one for the jobs (their leases are still held: the round waits for this); records ``together`` in one
        transaction with their jobs. Should that fail, each is recorded alone, and a job whose record fails is
        retried (or given up on) as any failed job: as before the batching."""
        alone = [(job, later) for job, later in finishing if not later.together]
        together = [(job, later) for job, later in finishing if later.together]
        try:
            if alone:
                await self._finish_statements(alone)
        except asyncio.CancelledError:
            await self._abandon_all(together)
            raise
        if together:
            await self._finish_together(together)

    async def _finish_statements(self, finishing: list[tuple[Job, repository.FinishLater]]) -> None:
        ids = [job.id for job, _ in finishing]
        try:
            # Each statement stands alone (``FinishLater``): the records, then the jobs done.
            async with statements_alone(self.sessionmaker) as session:
                for record, items in _by_record(finishing).items():
                    await record(session, items)
                finished = await repository.mark_all_done(session, ids, worker_id=self.worker_id)
        except Exception:
            log.warning(
                "could not record %s finished jobs together; one by one", len(finishing), exc_info=True
            )
            for job, later in finishing:
                self._start_born(await self._finish_alone(job, later))
            return
        for job_id in sorted(set(ids) - finished):
            log.warning("job %s: lease lost to another worker before its finish was recorded", job_id)

    async def _finish_together(self, finishing: list[tuple[Job, repository.FinishLater]]) -> None:
        """One transaction: the jobs done (all still this worker's, checked first), then their records. The jobs
        those records queue for this worker run once it has committed."""
        ids = [job.id for job, _ in finishing]
        try:
            async with unit_of_work(self.sessionmaker) as session:
                self._lease_new_jobs(session)
                if await repository.mark_all_done(session, ids, worker_id=self.worker_id) != set(ids):
                    # Another worker holds one of them now: recorded alone, only that one is dropped.
                    raise _LeaseLost
                for record, items in _by_record(finishing).items():
                    await record(session, items)
        except asyncio.CancelledError:
            # Shut down while recording: no row will point at what the jobs left (their leases run out and
            # other workers build it again).
            await self._abandon_all(finishing)
            raise
        except Exception as exc:
            if not isinstance(exc, _LeaseLost):
                log.warning(
                    "could not record %s finished jobs together; one by one", len(finishing), exc_info=True
                )
            for at, (job, later) in enumerate(finishing):
                try:
                    self._start_born(await self._finish_alone(job, later))
                except asyncio.CancelledError:
                    await self._abandon_all(finishing[at + 1 :])
                    raise
            return
        self._start_born(self._born_of(session))

    async def _record_and_finish(
        self, session: AsyncSession, job: Job, later: repository.FinishLater | None
    ) -> None:
        """In ``session``: what ``job`` left for later, if anything, and the job done; ``_LeaseLost`` when another
        worker holds it now."""
        if later is not None:
            await later.record(session, [later.item])
        if not await repository.mark_done(session, job.id, worker_id=self.worker_id):
            raise _LeaseLost

    async def _finish_alone(self, job: Job, later: repository.FinishLater) -> list[tuple[Job, Any]]:
        """Record ``later`` and finish ``job`` on their own; the jobs the record queued born leased to this worker
        (for the caller to run)."""
        with job_scope(str(job.id), job.kind):
            try:
                if later.together:
                    async with unit_of_work(self.sessionmaker) as session:
                        self._lease_new_jobs(session)
                        await self._record_and_finish(session, job, later)
                else:
                    async with statements_alone(self.sessionmaker) as session:
                        await self._record_and_finish(session, job, later)
            except _LeaseLost:
                if later.together and await self._finished_by_me(job):
                    # A batch whose commit went through though its answer was lost: recorded already.
                    return []
                log.warning("job %s: lease lost to another worker before its finish was recorded", job.id)
                await self._abandon(later)
                return []
            except Exception as exc:
                await self._abandon(later)
                try:
                    await self._failed(job, exc)
                except Exception:
                    # The database is away: the job stays leased until its lease runs out, then runs again.
                    log.warning("job %s: could not record its failure", job.id, exc_info=True)
                return []
        return self._born_of(session)

    async def _finished_by_me(self, job: Job) -> bool:
        try:
            async with read_only(self.sessionmaker) as session:
                return await repository.finished_by(session, job.id, worker_id=self.worker_id)
        except Exception:
            return False

    async def _abandon_all(self, finishing: list[tuple[Job, repository.FinishLater]]) -> None:
        for _job, later in finishing:
            await self._abandon(later)

    async def _abandon(self, later: repository.FinishLater) -> None:
        """A record that will not be made: remove what the job's run left outside the database for it."""
        if later.abandon is None:
            return
        try:
            await later.abandon()
        except Exception:
            log.warning("could not remove what an unrecorded job left behind", exc_info=True)

    def retry_policy(self, kind: str) -> RetryPolicy:
        """The policy of ``kind``: its own if it has one, else JOB_RETRY_BASE and JOB_MAX_ATTEMPTS."""
        return self.retry_policies.get(kind) or RetryPolicy(
            base=self.retry_base, max_attempts=self.max_attempts
        )

    async def _failed(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        permanent = isinstance(exc, PermanentError)
        async with unit_of_work(self.sessionmaker) as session:
            now = clock.now()
            run_at = None if permanent else self.retry_policy(job.kind).next_attempt(job, now=now)
            if run_at is None:
                log.error(
                    "job %s (%s) failed for good after %s attempts: %s", job.id, job.kind, job.attempts, error
                )
                if await repository.mark_dead(session, job.id, worker_id=self.worker_id, error=error):
                    await self.on_dead(session, job, str(exc) or type(exc).__name__)
            else:
                log.warning(
                    "job %s (%s) attempt %s failed, retry in %s: %s",
                    job.id,
                    job.kind,
                    job.attempts,
                    run_at - now,
                    error,
                )
                await repository.mark_retry(
                    session, job.id, worker_id=self.worker_id, error=error, run_at=run_at
                )
        self._woken_by(session)  # what giving up queued (the email telling the customer) is claimed next

    def _woken_by(self, session: AsyncSession) -> None:
        """After a commit of this worker's: when it queued a job for the next claim, the loop must come round
        (on SQLite nothing else would tell it before the poll interval)."""
        if session.info.get(JOBS_ENQUEUED):
            self._wake.set()

    async def _heartbeat(self) -> None:
        """Extend the leases of this worker's running jobs, so only a dead worker's jobs are taken over."""
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                async with unit_of_work(self.sessionmaker) as session:
                    await repository.extend_leases(
                        session, worker_id=self.worker_id, until=clock.now() + self.lease
                    )
            except Exception:
                log.warning("could not extend the leases of worker %s", self.worker_id, exc_info=True)


class _LeaseLost(Exception):
    pass


def _by_record(finishing: list[tuple[Job, repository.FinishLater]]) -> dict[Any, list[Any]]:
    """The items of ``finishing`` per record that takes them."""
    by_record: dict[Any, list[Any]] = {}
    for _job, later in finishing:
        by_record.setdefault(later.record, []).append(later.item)
    return by_record
