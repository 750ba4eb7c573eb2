"""The tests' SMTP server (tests/notifications/smtp_server.py), recording when each message arrived, for the
benchmarks."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy

from common import free_port

from tests.notifications.smtp_server import HOST, ReceivedMessage, SmtpServer, serving

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Arrival:
    at: float  # time.perf_counter() when the message was accepted (its DATA command)
    to: str
    raw: bytes
    _text: str | None = None

    @property
    def text(self) -> str:
        """The decoded text of every text part (the raw bytes may be quoted-printable or base64)."""
        if self._text is None:
            message = message_from_bytes(self.raw, policy=policy.default)
            parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
            self._text = "\n".join(str(part) for part in parts)
        return self._text


@dataclass
class RecordingSmtpServer(SmtpServer):
    arrivals: list[Arrival] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def accept(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self.arrivals.append(Arrival(time.perf_counter(), message.rcpt_tos[0], message.raw))
            self._arrived.notify_all()

    def count(self) -> int:
        with self._arrived:
            return len(self.arrivals)

    def wait_for_count(self, count: int, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.arrivals) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def wait_for(self, to: str, needle: str, *, timeout: float) -> Arrival | None:
        """The first message to ``to`` whose text contains ``needle``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._arrived:
            while True:
                for arrival in self.arrivals[seen:]:
                    if arrival.to == to and needle in arrival.text:
                        return arrival
                seen = len(self.arrivals)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)

    def message_ids(self) -> list[bytes]:
        with self._arrived:
            found = [_MESSAGE_ID.search(a.raw) for a in self.arrivals]
        return [m.group(1) for m in found if m is not None]

    def clear(self) -> None:
        with self._arrived:
            self.arrivals.clear()


@contextmanager
def running_sink() -> Iterator[RecordingSmtpServer]:
    with serving(RecordingSmtpServer(host=HOST, port=free_port())) as server:
        yield server
