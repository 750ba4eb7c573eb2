"""Start-up helpers for the CLI: the standalone worker, the first admin key, the sources check."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from app.auth.keys import Role, any_key_exists, create_key
from app.core.config import ConfigError, Settings
from app.core.context import ServiceContext
from app.core.db import create_engine, create_sessionmaker, unit_of_work
from app.packages import PackageStore
from app.sources import DataSources, SourceError, SourcesFileError
from app.wiring import build_worker
from app.worker.listen import listen_forever

log = logging.getLogger("app.sources")

# The youngest generation's collection threshold once the heap is settled (Python's default: 700 allocations).
# A request allocates a few thousand container objects (ORM state, statements, a rendered email), so the default
# ran about one young collection per request; at this size one per few requests, each as short.
YOUNG_COLLECTION_THRESHOLD = 10_000


# glibc gives each thread that allocates an arena of its own, up to eight per core: `serve` runs some fifteen
# threads (the packages' and sources' blocking steps, file writes), and their half-empty arenas held some 7 MiB of
# its peak memory under load (149 MiB against 142 with two arenas, on the bench's many small requests).
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def cap_malloc_arenas() -> bool:
    """Call first thing in `serve` and `worker`, before any thread starts: every thread then allocates from
    ``MALLOC_ARENAS`` shared arenas. The blocking work on those threads (reading a source, sealing a package,
    writing a file) holds the GIL for most of its allocations, so they rarely contend.

    An arena limit the operator set (``MALLOC_ARENA_MAX``, or ``glibc.malloc.arena_max`` in ``GLIBC_TUNABLES``:
    glibc read it at start) wins; outside Linux nothing changes, nor where the C library has no ``mallopt`` (musl's
    ignores the setting). True when the cap was set here."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX") or "arena_max" in tunables:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


def settle_heap() -> None:
    """Call once the process has imported and built what it serves with, before it starts serving.

    Everything alive now (modules, mappers, schemas, templates: most of the heap) moves to the collector's
    permanent generation and is never scanned again. A full collection used to walk all of it (some 180,000
    objects in `serve` once started: a pause of about 90 ms on the project's machine, each time the older
    generations had grown by a quarter), and each collection of the middle generation a share of it. Young
    collections run less often (``YOUNG_COLLECTION_THRESHOLD``). Garbage is still collected as before; only
    what start-up built stays for the life of the process, as it would anyway. Not for tests, which build an
    app per test: each frozen heap would stay."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


def check_sources(settings: Settings) -> None:
    """Fail start-up with one line when SOURCES_FILE is missing or invalid."""
    if not settings.sources_file.exists():
        raise ConfigError(
            f"configuration error: SOURCES_FILE: {settings.sources_file} does not exist (run `python -m app demo`)"
        )
    try:
        sources = DataSources.from_file(settings.sources_file, secret_key=settings.resolved_secret_key())
    except SourcesFileError as error:
        raise ConfigError(f"configuration error: SOURCES_FILE: {error}") from None
    # Where a source's schema can be read now, a column that can never match stops start-up; a database
    # that cannot be reached yet is checked on first use instead.
    try:
        for problem in sources.check_schema():
            log.warning("%s; its column types are checked on first use", problem)
    except SourceError as error:
        raise ConfigError(f"configuration error: SOURCES_FILE: {error}") from None
    finally:
        sources.dispose()


def check_public_base_url(settings: Settings, *, command: str) -> None:
    """Fail start-up with one line when a command that sends mail has no PUBLIC_BASE_URL outside the embedded
    default: its links would name this process's own HOST:PORT, not where customers reach the API."""
    if settings.public_base_url is not None:
        return
    if command == "worker":
        raise ConfigError(
            "configuration error: PUBLIC_BASE_URL: required by `worker`: a standalone worker puts it in every "
            "emailed link and cannot know where the API is reached"
        )
    if settings.is_production:
        raise ConfigError(
            f"configuration error: PUBLIC_BASE_URL: required by `{command}` when DATABASE_URL is not the embedded "
            f"SQLite default (emailed links would point at {settings.base_url})"
        )


def check_brand(settings: Settings, *, command: str) -> None:
    """Fail start-up with one line when a command that writes to customers outside the embedded default does not
    say who the controller is (contract section 8: every email, page and report is from the brand)."""
    if not settings.is_production and command != "worker":
        return
    for name in ("brand_name", "controller_address"):
        if getattr(settings, name) is None:
            raise ConfigError(
                f"configuration error: {name.upper()}: required by `{command}` outside the embedded default: "
                "customers must be told who the controller is"
            )


async def ensure_first_admin_key(settings: Settings) -> str | None:
    """On a database without keys, create an admin key and return it (printed once by ``serve``)."""
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            if await any_key_exists(session):
                return None
            _key, plaintext = await create_key(session, name="admin", role=Role.ADMIN)
            return plaintext
    finally:
        await engine.dispose()


def lower_priority(nice: int) -> None:
    """Give up CPU priority: every thread of this process (threads started later inherit it) gets at least
    ``nice``; a process already started nicer keeps its value, and 0 changes nothing.

    On Linux a nice value belongs to a thread, so each one alive now is set, not only the calling one. Where
    the platform has no nice values (Windows) nothing changes."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    tasks = Path("/proc/self/task")
    threads = [int(entry.name) for entry in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread in threads:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            if os.getpriority(os.PRIO_PROCESS, thread) < nice:
                os.setpriority(os.PRIO_PROCESS, thread, nice)


async def run_worker(settings: Settings) -> None:
    """A standalone worker until SIGTERM or SIGINT; it finishes the job in hand first.

    It runs at WORKER_NICE: on a host shared with `serve`, a backlog of jobs takes the CPU the API leaves."""
    lower_priority(settings.worker_nice)
    check_public_base_url(settings, command="worker")
    check_brand(settings, command="worker")
    check_sources(settings)
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    sources = DataSources.from_file(settings.sources_file, secret_key=settings.resolved_secret_key())
    packages = PackageStore(settings=settings, secret_key=settings.resolved_secret_key())
    ctx = ServiceContext(
        settings=settings, secret_key=settings.resolved_secret_key(), sources=sources, packages=packages
    )
    worker = build_worker(ctx, sessionmaker)
    settle_heap()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    listener = (
        None
        if settings.is_sqlite
        else asyncio.create_task(listen_forever(settings.database_url, worker.wake))
    )
    try:
        await worker.run()
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await worker.aclose()
        await sources.aclose()
        await packages.aclose()
        await engine.dispose()
