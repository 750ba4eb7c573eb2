"""16 clients submit 5,000 requests to a real server while its PostgreSQL restarts: nothing is lost or
stored twice, /readyz tells the truth throughout, and the service recovers without being restarted."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import SECRET, sync_pg_url
from ..security.live_server import free_port
from .pg_cluster import Cluster, postgres_bin, private_cluster

pytestmark = pytest.mark.slow

TOTAL = int(os.environ.get("FAULTS_TOTAL", "5000"))
CLIENTS = 16
RESTART_AFTER = TOTAL // 4
DOWNTIME_SECONDS = 3.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Figures:
    """What the run saw, reported on failure and printed with ``-s``."""

    final: Counter[int] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    readyz_down: Counter[int] = field(default_factory=Counter)
    readyz_after: int | None = None
    recovered_in: float | None = None
    ids: dict[int, str] = field(default_factory=dict)
    done: int = 0
    quarter_done: asyncio.Event = field(default_factory=asyncio.Event)


def _env(cluster: Cluster, tmp_path: Path, sources_file: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": cluster.url("restart"),
        "SECRET_KEY": SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "BRAND_NAME": "Test Shop",
        "CONTROLLER_ADDRESS": "Test Shop Ltd, 1 Test Street, Testville",
        "SOURCES_FILE": str(sources_file),
        "MAIL_DIR": str(tmp_path / "mail"),
        "PACKAGE_DIR": str(tmp_path / "packages"),
        "VAR_DIR": str(tmp_path / "var"),
        "RATE_LIMIT_PER_MINUTE": "0",
        "WORKER_POLL_INTERVAL": "PT0.5S",
    }


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    with private_cluster(bin_dir) as private:
        private.create_database("restart")
        yield private


@pytest.fixture
def server(
    cluster: Cluster, tmp_path: Path, sources_file: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """``python -m app serve`` (API and embedded worker) on the private cluster: (base URL, app key, process)."""
    port = free_port()
    env = _env(cluster, tmp_path, sources_file, port)
    _cli(env, "migrate")
    app_key = _cli(env, "api-keys", "create", "--role", "app", "--name", "load").strip().splitlines()[-1]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.1)
    try:
        yield base_url, app_key, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _client(http: httpx.AsyncClient, key: str, queue: asyncio.Queue[int], figures: Figures) -> None:
    """Submit each number taken from the queue until it is answered 2xx, retrying 5xx and lost connections
    with the same Idempotency-Key."""
    while True:
        try:
            n = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        deadline = time.monotonic() + 120
        while True:
            try:
                response = await http.post(
                    "/v1/privacy-requests",
                    json={"type": "access", "email": f"load{n}@example.org", "channel": "load"},
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"load-{n}"},
                )
            except httpx.TransportError as error:
                figures.attempts[type(error).__name__] += 1
            else:
                figures.attempts[str(response.status_code)] += 1
                if response.status_code < 500:
                    assert response.status_code in (200, 201), response.text
                    figures.final[response.status_code] += 1
                    figures.ids[n] = response.json()["id"]
                    figures.done += 1
                    if figures.done >= RESTART_AFTER:
                        figures.quarter_done.set()
                    break
            assert time.monotonic() < deadline, f"request {n} was never answered"
            await asyncio.sleep(0.2)


async def _restart(cluster: Cluster, base_url: str, figures: Figures) -> None:
    """Once a quarter of the load is in, stop PostgreSQL, watch /readyz, start it again, watch it recover."""
    await figures.quarter_done.wait()
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as probe:
        await asyncio.to_thread(cluster.stop, "fast")
        down_until = time.monotonic() + DOWNTIME_SECONDS
        while time.monotonic() < down_until:
            figures.readyz_down[(await probe.get("/readyz")).status_code] += 1
            await asyncio.sleep(0.25)
        await asyncio.to_thread(cluster.start)
        started = time.monotonic()
        while True:
            status = (await probe.get("/readyz")).status_code
            if status == 200:
                figures.readyz_after = status
                figures.recovered_in = time.monotonic() - started
                return
            assert time.monotonic() - started < 30, "the service did not recover"
            await asyncio.sleep(0.1)


async def _load(base_url: str, key: str, cluster: Cluster, figures: Figures) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(TOTAL):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        restart = asyncio.create_task(_restart(cluster, base_url, figures))
        await asyncio.gather(*(_client(http, key, queue, figures) for _ in range(CLIENTS)))
        await restart


def test_submits_survive_a_database_restart(
    cluster: Cluster, server: tuple[str, str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    base_url, app_key, process = server
    figures = Figures()
    started = time.monotonic()
    asyncio.run(_load(base_url, app_key, cluster, figures))
    elapsed = time.monotonic() - started
    summary = (f"{TOTAL} submits by {CLIENTS} clients in {elapsed:.1f} s; final answers {dict(figures.final)}; "
          f"all attempts {dict(figures.attempts)}; /readyz while down {dict(figures.readyz_down)}; "
          f"ready again {figures.recovered_in:.2f} s after PostgreSQL started")  # fmt: skip
    logging.getLogger("tests.faults").warning(summary)
    server_log = (tmp_path / "serve.log").read_text()
    logging.getLogger("tests.faults").warning(
        "server log: %d lines, %d tracebacks", server_log.count("\n"), server_log.count("Traceback")
    )

    # Every submit was answered, each with its own request.
    assert len(figures.ids) == TOTAL, summary
    assert sum(figures.final.values()) == TOTAL
    assert len(set(figures.ids.values())) == TOTAL
    # The database was really gone for a while: some attempts failed and were retried.
    failed = sum(count for outcome, count in figures.attempts.items() if not outcome.startswith("2"))
    assert failed > 0, figures.attempts
    assert not any(outcome.startswith("5") and outcome != "503" for outcome in figures.attempts), (
        "a database outage is a 503 (retry later), never a 500"
    )
    # /readyz said 503 while PostgreSQL was down, and 200 once it was back.
    assert figures.readyz_down.get(503, 0) > 0, figures.readyz_down
    assert set(figures.readyz_down) == {503}, figures.readyz_down
    assert figures.readyz_after == 200
    # The same process (not restarted) still serves.
    assert process.poll() is None
    after = httpx.post(
        f"{base_url}/v1/privacy-requests",
        json={"type": "deletion", "email": "after@example.org"},
        headers={"Authorization": f"Bearer {app_key}"},
    )
    assert after.status_code == 201

    # Stored exactly once: the database holds each answered id, and one request per email.
    import psycopg

    with psycopg.connect(sync_pg_url(cluster.url("restart"))) as db:
        rows = db.execute("SELECT id::text, email FROM privacy_requests WHERE channel = 'load'").fetchall()
    assert len(rows) == TOTAL
    assert {row[0] for row in rows} == set(figures.ids.values())
    assert Counter(row[1] for row in rows) == Counter(f"load{n}@example.org" for n in range(TOTAL))

    # The embedded worker came back too: it keeps sending the acknowledgements (it is slower than the API, so
    # it need not have caught up; it must be moving).
    with psycopg.connect(sync_pg_url(cluster.url("restart"))) as db:
        sent_before = _sent(db)
        deadline = time.monotonic() + 60
        while _sent(db) < min(sent_before + 50, TOTAL + 1):
            assert time.monotonic() < deadline, "the worker did not recover from the restart"
            time.sleep(0.5)


def _sent(db: Any) -> int:
    count: int = db.execute("SELECT count(*) FROM emails WHERE status = 'sent'").fetchone()[0]
    return count
