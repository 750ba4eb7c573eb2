"""The tests' SMTP server (tests/notifications/smtp_server.py) in its own process, for load tests: it appends
the Message-ID and recipients of every message it accepts to a file, one line each. In the test process an
aiosmtpd thread competes with the test for the GIL and caps delivery at a few messages a second; its own
process does not.

    with smtp_sink(port, directory) as sink:    # runs ``python -m tests.jobs.smtp_sink PORT OUTFILE``
        ...
        sink.received()                          # [(Message-ID, recipients)]
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..notifications.smtp_server import HOST, ReceivedMessage, SmtpServer, serving
from .support import terminate

REPO = Path(__file__).resolve().parents[2]


@dataclass
class LineRecorder(SmtpServer):
    """Writes a line per accepted message instead of keeping it: a load test's thousand messages stay out of
    memory, and the test process reads them from the file."""

    out: IO[str] | None = None

    def accept(self, message: ReceivedMessage) -> None:
        assert self.out is not None
        message_id = message.parsed()["Message-ID"]
        self.out.write(f"{message_id} {','.join(message.rcpt_tos)}\n")
        self.out.flush()


class SmtpSink:
    """``python -m tests.jobs.smtp_sink`` on ``port``; ``received()`` lists (Message-ID, recipients)."""

    def __init__(self, port: int, directory: Path) -> None:
        self.host = HOST
        self.port = port
        self.path = directory / "smtp-sink.txt"
        self.path.touch()
        self._log = (directory / "smtp-sink.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.jobs.smtp_sink", str(port), str(self.path)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, within: float = 20) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError("the SMTP sink did not start") from None
                time.sleep(0.05)

    def received(self) -> list[tuple[str, str]]:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [(line.split(" ")[0], line.split(" ")[1]) for line in lines if line]

    def stop(self) -> None:
        terminate(self.process, within=10)
        self._log.close()


@contextmanager
def smtp_sink(port: int, directory: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(port, directory)
    try:
        sink.wait_ready()
        yield sink
    finally:
        sink.stop()


def main(port: int, path: Path) -> None:
    """Serve until SIGTERM."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with path.open("a", encoding="utf-8") as out, serving(LineRecorder(host=HOST, port=port, out=out)):
        stopped.wait()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
