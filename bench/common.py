"""Shared plumbing for the benchmarks: the database, a workspace with a data source, the app's processes,
a lean HTTP/1.1 client, percentiles and the result rows.

Everything talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
if str(REPO) not in sys.path:
    # The bench is run as a script (bench/ is sys.path[0]); the repo root makes `tests.*` importable.
    sys.path.insert(1, str(REPO))

from tests.notifications.smtp_server import free_port  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
APP_TABLES = (
    "request_events",
    "deadline_alerts",
    "downloads",
    "idempotency_keys",
    "emails",
    "jobs",
    "privacy_requests",
    "api_keys",
)

__all__ = ["free_port"]


# ---------------------------------------------------------------- results


@dataclass
class Row:
    """One line of the final table. ``met`` is None when the line has no goal."""

    benchmark: str
    figure: str
    baseline: str
    ratio: str
    goal: str = "-"
    met: bool | None = None


def fmt_ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): p99 of 100 samples is the 99th smallest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 100 - len(title)), flush=True)


# ---------------------------------------------------------------- database


def database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def sync_url(url: str) -> str:
    """The libpq form of an asyncpg URL, for psycopg."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (connecting to the ``postgres`` db)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(sync_url(url))
    name = parsed.database
    assert name, "BENCH_DATABASE_URL names no database"
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def reset_schema(url: str) -> None:
    """Drop the app's tables and migrate afresh with ``python -m app migrate``."""
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        # The whole public schema: a migration may have added tables this list does not name.
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    subprocess.run(
        [PYTHON, "-m", "app", "migrate"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY},
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )


def truncate(url: str, *, keep_keys: bool = False) -> None:
    tables = [t for t in APP_TABLES if not (keep_keys and t == "api_keys")]
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")


# ---------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """A folder with a SQLite shop (the customer directory and orders) and the sources file for it."""

    root: Path
    customers: int
    orders_per_customer: int

    @property
    def sources_file(self) -> Path:
        return self.root / "sources.yaml"

    def build(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        db = self.root / "shop.db"
        db.unlink(missing_ok=True)
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT)")
            conn.execute("CREATE INDEX ix_customers_email ON customers (email)")
            conn.execute(
                "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, ordered_at TEXT, "
                "total NUMERIC, status TEXT, shipping_address TEXT)"
            )
            conn.execute("CREATE INDEX ix_orders_customer_id ON orders (customer_id)")
            conn.executemany(
                "INSERT INTO customers VALUES (?, ?, ?)",
                [
                    (self.customer_id(i), self.customer_email(i), f"Customer {i}")
                    for i in range(self.customers)
                ],
            )
            conn.executemany(
                "INSERT INTO orders (customer_id, ordered_at, total, status, shipping_address) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    (
                        self.customer_id(c),
                        f"2024-{1 + o % 12:02d}-{1 + o % 28:02d}T10:00:00+00:00",
                        f"{(o * 37 % 9000) / 100:.2f}",
                        "delivered",
                        f"Street {o % 300}, 10115 Berlin",
                    )
                    for c in range(self.customers)
                    for o in range(self.orders_per_customer)
                ),
            )
        self.sources_file.write_text(
            "sources:\n"
            "  - name: shop\n"
            "    type: sql\n"
            f"    url: sqlite:///{db}\n"
            "    directory: {table: customers, id: id, email: email, name: [name]}\n"
            "    entities:\n"
            "      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n"
            "      - {name: orders, table: orders, match: {customer_id: customer_id}, erase: delete}\n"
        )

    @staticmethod
    def customer_id(i: int) -> str:
        return f"cus_{i:05d}"

    @staticmethod
    def customer_email(i: int) -> str:
        return f"customer{i}@shop.example"


def app_env(
    ws: Workspace,
    url: str,
    *,
    port: int | None = None,
    smtp_port: int | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment for ``python -m app ...`` against the bench database and workspace."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "SOURCES_FILE": str(ws.sources_file),
        "RATE_LIMIT_PER_MINUTE": "0",
        "VAR_DIR": str(ws.root / "var"),
        "MAIL_DIR": str(ws.root / "mail"),
        "PACKAGE_DIR": str(ws.root / "packages"),
        "HOST": "127.0.0.1",
        "PORT": str(port or 8000),
        # Required by `worker` and by `serve` on PostgreSQL (links in emails).
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port or 8000}",
        "BRAND_NAME": "Bench Shop",
        "CONTROLLER_ADDRESS": "Bench Shop Ltd, 1 Bench Street, Benchville",
    }
    if smtp_port is not None:
        env.update({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_SECURITY": "none"})
    env.update(extra)
    return env


def create_api_key(env: Mapping[str, str], *, role: str, name: str) -> str:
    """``python -m app api-keys create``: the key is alone on the last line."""
    done = subprocess.run(
        [PYTHON, "-m", "app", "api-keys", "create", "--role", role, "--name", name],
        cwd=REPO,
        env=dict(env),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------- processes


@dataclass
class Process:
    """A child process with its output in a log file; stopped with SIGTERM, killed if it lingers."""

    popen: subprocess.Popen[bytes]
    log: Path
    name: str
    _log_handle: Any = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def vm_hwm_mib(self) -> float:
        return vm_hwm_mib(self.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        if self._log_handle is not None:
            self._log_handle.close()


def start(args: Sequence[str], *, env: Mapping[str, str], log: Path, name: str) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("wb")
    popen = subprocess.Popen(
        list(args), cwd=REPO, env=dict(env), stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    return Process(popen=popen, log=log, name=name, _log_handle=handle)


def wait_http_ready(port: int, process: Process, *, path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.log_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer on port {port} within {timeout:.0f} s")


def wait_log(process: Process, needle: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in process.log_text():
            return
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.log_text()[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not log {needle!r} within {timeout:.0f} s")


@contextlib.contextmanager
def serving(
    env: Mapping[str, str], *, port: int, log: Path, with_worker: bool, name: str = "serve"
) -> Iterator[Process]:
    """``python -m app serve`` (``--no-worker`` unless ``with_worker``) until the block ends."""
    args = [PYTHON, "-m", "app", "serve", *([] if with_worker else ["--no-worker"])]
    process = start(args, env={**env, "PORT": str(port)}, log=log, name=name)
    try:
        wait_http_ready(port, process)
        yield process
    finally:
        process.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mib(pid: int) -> float:
    """Peak resident set size of a live process (VmHWM in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


# ---------------------------------------------------------------- a lean HTTP client


class HttpError(Exception):
    pass


class RawHttp:
    """One keep-alive HTTP/1.1 connection with pre-built requests: far cheaper per call than httpx, so on a
    2-core machine the load generator steals less CPU from the server it measures."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    def build(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send a pre-built request; (status, body). Only Content-Length responses (what uvicorn sends here)."""
        reader, writer = await self._connect()
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length = None
        close = False
        for line in header_lines:
            name, _, value = line.partition(":")
            lowered = name.strip().lower()
            if lowered == "content-length":
                length = int(value.strip())
            elif lowered == "connection" and value.strip().lower() == "close":
                close = True
        if length is None:
            raise HttpError(f"response without Content-Length: {status_line}")
        body = await reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        return await self.send(self.build(method, path, headers=headers, body=body))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def run_loadgen(args: Sequence[str], *, timeout: float) -> dict[str, Any]:
    """Run bench/loadgen.py in its own process; its JSON summary."""
    done = subprocess.run(
        [PYTHON, str(REPO / "bench" / "loadgen.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary
