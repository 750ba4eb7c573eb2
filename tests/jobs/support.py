"""Helpers for the worker tests: standalone worker processes, polling, the outbox as the database holds it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.models import Email, Job

from ..notifications.smtp_server import SmtpServer


def message_id_counts(server: SmtpServer) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in server.messages)


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    output: Callable[[], str] = str,
    interval: float = 0.1,
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` (and the workers' output) after ``within`` s."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}\n{output()}")
        await asyncio.sleep(interval)


async def job_statuses(
    sessionmaker: async_sessionmaker[AsyncSession], kind: str | None = None
) -> Counter[str]:
    async with sessionmaker() as session:
        query = select(Job.status, func.count()).group_by(Job.status)
        if kind is not None:
            query = query.where(Job.kind == kind)
        rows = await session.execute(query)
        return Counter({str(row[0]): int(row[1]) for row in rows})


async def emails(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Email]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Email).order_by(Email.created_at))).all())


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a ``python -m app worker`` that shares ``settings``' database, sources and mail."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    }
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": settings.resolved_secret_key(),
            "SOURCES_FILE": str(settings.sources_file),
            "MAIL_DIR": str(settings.mail_dir),
            "PACKAGE_DIR": str(settings.package_dir),
            "VAR_DIR": str(settings.var_dir),
            "PUBLIC_BASE_URL": settings.base_url,
            "BRAND_NAME": settings.brand_name or "Test Shop",
            "CONTROLLER_ADDRESS": settings.controller_address or "Test Shop Ltd, 1 Test Street, Testville",
            "PRIVACY_TEAM_EMAIL": settings.privacy_team_email or "",
            "MAIL_FROM": settings.mail_from,
            "JOB_RETRY_BASE": "PT0.2S",
            "WORKER_POLL_INTERVAL": "PT0.2S",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.smtp_host:
        env.update(
            {
                "SMTP_HOST": settings.smtp_host,
                "SMTP_PORT": str(settings.smtp_port),
                "SMTP_SECURITY": settings.smtp_security,
            }
        )
    env.update(overrides)
    return env


def terminate(process: subprocess.Popen[bytes], *, within: float) -> None:
    """SIGTERM, the way an orchestrator stops a process; SIGKILL if it has not exited ``within`` s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class WorkerProcess:
    """One ``python -m app worker`` subprocess; its output goes to a log file shown when a test fails."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        # cwd outside the repository: no .env file there may change the settings under test.
        self.killed = False
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            env=env,
            cwd=log_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self._log.flush()
        return (
            f"--- {self.name} (pid {self.pid}, exit {self.process.poll()}) ---\n"
            + self.log_path.read_text(errors="replace")
        )

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.killed = True

    def stop(self) -> None:
        terminate(self.process, within=30)
        self._log.close()


class Workers:
    """The worker processes of one test; all are stopped at the end."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self, name: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(name, worker_env(self.settings, **env), self.log_dir)
        self.started.append(worker)
        return worker

    def output(self) -> str:
        return "\n".join(worker.output() for worker in self.started)

    def assert_alive(self) -> None:
        for worker in self.started:
            if worker.killed:
                continue
            code = worker.process.poll()
            assert code is None, f"worker {worker.name} exited with {code}\n{self.output()}"

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@contextmanager
def worker_processes(settings: Settings, log_dir: Path) -> Iterator[Workers]:
    workers = Workers(settings, log_dir)
    try:
        yield workers
    finally:
        workers.stop_all()


def http_source_yaml(url: str, *, timeout: str = "PT5S", attempts: int = 3) -> str:
    """A ``loyalty`` HTTP source entry for ``write_crm(extra_sources=...)``."""
    return f"""\
  - name: loyalty
    type: http
    url: {url}/gdpr/customers/{{customer_id}}
    timeout: {timeout}
    attempts: {attempts}
    backoff: PT0.01S
    entities:
      - name: points
        purpose: Loyalty programme
"""


def as_dict(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


@dataclass(frozen=True)
class Sent:
    """A statement the service sent to its database."""

    sql: str
    locking: bool  # SELECT ... FOR UPDATE (which SQLite's SQL does not show: the statement built says so)

    def reads(self, table: str) -> bool:
        """A plain read of ``table`` (not a row lock)."""
        return self.sql.lstrip().startswith("SELECT") and f"FROM {table}" in self.sql and not self.locking


@contextmanager
def statements_sent(engine: AsyncEngine) -> Iterator[list[Sent]]:
    """Every statement ``engine`` sends inside the block, in order."""
    sent: list[Sent] = []

    def seen(_conn: Any, _cursor: Any, sql: str, _parameters: Any, context: Any, _many: bool) -> None:
        built = getattr(context.compiled, "statement", None)
        sent.append(Sent(sql, getattr(built, "_for_update_arg", None) is not None))

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
