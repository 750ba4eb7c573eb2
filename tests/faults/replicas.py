"""Real processes of the service for the scale-out tests: ``python -m app serve --no-worker`` replicas and
``python -m app worker`` processes, each with its output in a log file shown when a test fails, all stopped
with SIGTERM (the way an orchestrator stops them) and waited for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx


class ServiceProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        # cwd outside the repository: no .env file there may change the settings under test.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            env=env,
            cwd=log_dir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return (
            f"--- {self.name} (pid {self.pid}, exit {self.process.poll()}) ---\n"
            + self.log_path.read_text(errors="replace")[-6000:]
        )

    def signal_stop(self) -> None:
        """SIGTERM, once (a second signal may make a server skip its clean shutdown)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, *, within: float = 30) -> int:
        """Wait for the exit after ``signal_stop`` (SIGKILL after ``within`` s); the exit code."""
        try:
            self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


class Fleet:
    """The processes of one test; every one still running is stopped at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []
        self.exit_codes: dict[str, int] = {}

    def replica(self, name: str, env: dict[str, str], *, port: int) -> ServiceProcess:
        env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
        return self._start(name, ["serve", "--no-worker"], env)

    def worker(self, name: str, env: dict[str, str]) -> ServiceProcess:
        return self._start(name, ["worker"], env)

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(name, args, env, self.log_dir)
        self.started.append(process)
        return process

    def output(self) -> str:
        return "\n".join(process.output() for process in self.started)

    def assert_alive(self) -> None:
        for process in self.started:
            code = process.process.poll()
            assert code is None, f"{process.name} exited with {code}\n{self.output()}"

    def wait_ready(self, urls: list[str], *, within: float) -> None:
        """Wait until every replica's ``/readyz`` answers 200 (its database reached)."""
        deadline = time.monotonic() + within
        pending = list(urls)
        while pending:
            self.assert_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas not ready after {within} s: {pending}\n{self.output()}")
            try:
                if httpx.get(pending[0] + "/readyz", timeout=2).status_code == 200:
                    pending.pop(0)
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.2)

    def stop_all(self) -> dict[str, int]:
        """Stop every process still running (all at once: each gets SIGTERM, then each is waited for)."""
        for process in self.started:
            process.signal_stop()
        for process in self.started:
            if process.name not in self.exit_codes:
                self.exit_codes[process.name] = process.wait()
        return self.exit_codes


@contextmanager
def fleet(log_dir: Path) -> Iterator[Fleet]:
    processes = Fleet(log_dir)
    try:
        yield processes
    finally:
        processes.stop_all()
