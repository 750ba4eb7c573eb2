"""Engine and session factories; one unit of work per HTTP request and per job."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, TextClause, delete, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import InstrumentedAttribute


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, open transactions: SAVEPOINTs then work, and BEGIN IMMEDIATE below
    # takes the write lock up front, so two writers queue instead of failing on a lock upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while the worker writes; busy_timeout waits for the writer instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout. A connection lost to a database restart fails
        # one request (503, Retry-After) and the pool replaces it; pool_recycle retires idle ones.
        pool_recycle=1800,
        connect_args={"timeout": 5, "command_timeout": 30},
    )


def create_sessionmaker(
    engine: AsyncEngine, *, class_: type[AsyncSession] = AsyncSession
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=class_, expire_on_commit=False, autoflush=False)


# session.info key: callables that undo side effects outside the database (a stored package) on rollback.
ON_ROLLBACK = "on_rollback"
# session.info key: callables that finish work outside the database (removing a revoked package) once the
# transaction has committed, so nothing is removed for a change that rolled back.
ON_COMMIT = "on_commit"
# session.info key: set when a job for the next claim was added in the session; whoever commits it wakes the
# workers of its process (PostgreSQL NOTIFY wakes the others).
JOBS_ENQUEUED = "jobs_enqueued"
# Either kind may be a plain callable (run on a worker thread: it may block) or an async one (awaited).
SideEffect = Callable[[], Awaitable[None]] | Callable[[], None]


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block succeeds and rolls back when it raises (then runs the
    callables registered under ``session.info[ON_ROLLBACK]``); after a commit it runs those registered under
    ``session.info[ON_COMMIT]``."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            session.info.pop(ON_COMMIT, None)
            await _run_all(session.info.pop(ON_ROLLBACK, []))
            raise
        await _run_all(session.info.pop(ON_COMMIT, []))


@asynccontextmanager
async def read_only(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads only, outside any transaction (autocommit): no BEGIN and COMMIT round trips around
    a lookup, and each statement sees what was committed when it ran. Never write with it: a write would be
    committed at once, alone."""
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


@asynccontextmanager
async def statements_alone(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """``read_only``'s session, for writes that are whole on their own (an email was sent; its job is done):
    each statement commits as it runs, with no BEGIN and COMMIT round trips, and one that ran before a failure
    stays. On SQLite, which takes its one write lock at BEGIN, the block is one transaction committed at its
    end."""
    async with read_only(sessionmaker) as session:
        yield session
        await session.commit()


async def _run_all(actions: list[SideEffect]) -> None:
    for action in actions:
        if inspect.iscoroutinefunction(action):
            await action()
        else:
            await asyncio.to_thread(action)


async def _session_dependency(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the endpoint returns, before the response is sent."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with unit_of_work(sessionmaker) as session:
        yield session
    if session.info.get(JOBS_ENQUEUED):
        request.app.state.wake_workers()


SessionDep = Annotated[AsyncSession, Depends(_session_dependency, scope="function")]


async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


# For work that outlives the request's unit of work (a streamed answer read page by page): its own short
# sessions, one per step.
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)]


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (readiness); raises when it does not answer."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def try_advisory_lock(session: AsyncSession, key: int) -> bool:
    """On PostgreSQL, a transaction-scoped advisory lock, or False when another transaction holds it; on
    SQLite (one process) always True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


async def delete_oldest(
    session: AsyncSession,
    id_column: InstrumentedAttribute[Any],
    time_column: InstrumentedAttribute[Any],
    *,
    before: Any,
    limit: int,
    where: ColumnElement[bool] | TextClause | None = None,
) -> int:
    """Delete up to ``limit`` rows (oldest first by ``time_column``) older than ``before`` and matching ``where``:
    the retention sweeps' batched prune, one statement per table. How many went."""
    oldest = select(id_column).where(time_column < before).order_by(time_column).limit(limit)
    if where is not None:
        oldest = oldest.where(where)
    table = id_column.class_
    result = await session.execute(
        delete(table).where(id_column.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
