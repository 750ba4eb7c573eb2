"""Python function calls per request: what an access request costs the worker and a POST costs `serve`, counted
by cProfile instead of timed, so a busy machine does not move the figure (it repeats within about 1% from run to
run). Each figure is the difference between two runs of one process, a small and a large one, divided by the
requests between them: start-up and warm-up cancel out.

- worker: `serve --no-worker` takes N access requests for shoppers of the many-small-requests shop (PostgreSQL,
  integer ids, `AUTO_ACCEPT_ACCESS`, file mailbox), then a standalone `python -m app worker` under cProfile
  drains them (packages, acknowledgements, data-ready emails), for N = 60 and 360;
- serve: `serve --no-worker` under cProfile answers N POSTs from 8 clients (bench/loadgen.py), N = 100 and 700.

A call is not a unit of time (a call into the database driver or zlib costs more than one into the standard
library): read the figure beside timings, as a change's count of work done, not as its speed. cProfile profiles
the thread that starts it, the event loop's: what runs on worker threads (a SQL source's look-ups and reads) is
not counted.

    .venv/bin/python bench/call_counts.py
"""

from __future__ import annotations

import asyncio
import pstats
import signal
import tempfile
import time
from pathlib import Path

import auto_bench as shop
from common import (
    PYTHON,
    RawHttp,
    Workspace,
    app_env,
    create_api_key,
    database_url,
    ensure_database,
    free_port,
    reset_schema,
    run_loadgen,
    start,
    truncate,
    wait_http_ready,
)

WORKER_RUNS = (60, 360)
SERVE_RUNS = (100, 700)


def _environment(url: str, work: Path) -> dict[str, str]:
    truncate(url)
    shop.build_shop(url)
    psycopg_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)
    sources = shop.write_sources(work / "sources.yaml", psycopg_url)
    workspace = Workspace(work / "ws", customers=10, orders_per_customer=1)
    workspace.build()
    return app_env(
        workspace,
        url,
        SOURCES_FILE=str(sources),
        MAIL_DIR=str(work / "mail"),
        PACKAGE_DIR=str(work / "packages"),
        AUTO_ACCEPT_ACCESS="true",
    )


async def _submit(port: int, app_key: str, count: int) -> None:
    api = shop.Api(port, app_key, "")
    http = RawHttp(port)
    try:
        for n in range(count):
            status, body = await http.send(api.submit_raw(http, "access", shop.customer_email(n)))
            assert status == 201, body[:300]
    finally:
        await http.close()


def _profiled_calls(path: Path) -> int:
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(pstats.Stats(str(path)).total_calls)


def worker_calls(url: str, work: Path, count: int) -> int:
    """Calls of a standalone worker that drains ``count`` access requests (start-up included)."""
    env = _environment(url, work)
    app_key = create_api_key(env, role="app", name="calls-app")
    port = free_port()
    serve = start(
        [PYTHON, "-m", "app", "serve", "--no-worker"],
        env={**env, "PORT": str(port)},
        log=work / "serve.log",
        name="serve",
    )
    try:
        wait_http_ready(port, serve)
        asyncio.run(_submit(port, app_key, count))
    finally:
        serve.stop()
    profile = work / f"worker-{count}.prof"
    worker = start(
        [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "app", "worker"],
        env=env,
        log=work / "worker.log",
        name="worker",
    )
    try:
        deadline = time.monotonic() + 300
        while shop.open_jobs(url) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker left jobs open:\n{worker.log_text()[-3000:]}")
            time.sleep(0.05)
    finally:
        worker.stop()  # SIGTERM: the worker finishes and cProfile writes its file
    return _profiled_calls(profile)


def serve_calls(url: str, work: Path, count: int) -> tuple[int, int]:
    """Calls of `serve --no-worker` answering about ``count`` POSTs from 8 clients, and the POSTs answered."""
    env = _environment(url, work)
    app_key = create_api_key(env, role="app", name="calls-app")
    port = free_port()
    profile = work / f"serve-{count}.prof"
    serve = start(
        [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "app", "serve", "--no-worker"],
        env={**env, "PORT": str(port)},
        log=work / "serve.log",
        name="serve",
    )
    try:
        wait_http_ready(port, serve)
        load = run_loadgen(
            [
                f"--port={port}",
                f"--key={app_key}",
                "--concurrency=8",
                "--seconds=120",
                "--warmup=0",
                f"--max-requests={count}",
            ],
            timeout=240,
        )
    finally:
        serve.popen.send_signal(signal.SIGINT)  # uvicorn stops, `serve` returns and cProfile writes its file
        serve.popen.wait(60)
        serve.stop()
    return _profiled_calls(profile), int(load["requests"])


def main() -> None:
    url = database_url()
    ensure_database(url)
    reset_schema(url)
    with tempfile.TemporaryDirectory(prefix="privacy-calls-") as directory:
        work = Path(directory)
        small, large = (worker_calls(url, work, count) for count in WORKER_RUNS)
        per_request = (large - small) / (WORKER_RUNS[1] - WORKER_RUNS[0])
        print(
            f"worker: {per_request:,.0f} Python calls per access request "
            f"({large:,} calls draining {WORKER_RUNS[1]}, {small:,} draining {WORKER_RUNS[0]})"
        )
        (small_calls, small_posts), (large_calls, large_posts) = (
            serve_calls(url, work, count) for count in SERVE_RUNS
        )
        per_post = (large_calls - small_calls) / (large_posts - small_posts)
        print(
            f"serve: {per_post:,.0f} Python calls per POST "
            f"({large_calls:,} calls for {large_posts} POSTs, {small_calls:,} for {small_posts})"
        )


if __name__ == "__main__":
    main()
