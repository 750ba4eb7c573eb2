"""The tests' one SMTP server: aiosmtpd on 127.0.0.1, collecting what it receives.

Use the ``smtp_server`` fixture (tests/conftest.py), or ``running_smtp_server()`` as a context manager:

    with running_smtp_server() as server:           # a free port; or port=... where a worker already points
        ...send to server.host, server.port...      # or make_settings(..., **smtp_settings(server.port))
        server.messages[0]["Subject"]

``server.refuse_with = "451 4.3.0 Try again later"`` makes it refuse every message until reset to ``None``;
``credentials={"user": "secret"}`` turns on AUTH (PLAIN/LOGIN, allowed without TLS for the test);
``eight_bit=False`` makes a server without 8BITMIME.
``serving(server)`` starts any :class:`SmtpServer` (a subclass that records more, as the load test's sink in
tests/jobs/smtp_sink.py and the benchmarks' in bench/smtp_sink.py do).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    def parsed(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[ReceivedMessage] = field(default_factory=list)
    refuse_with: str | None = None
    # Per recipient: a message to one of these addresses is refused with its answer (a mailbox that does not exist).
    refuse_for: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] | None = None
    logins: list[str] = field(default_factory=list)
    # False: a server that does not offer 8BITMIME (aiosmtpd offers it unless it decodes the data itself).
    eight_bit: bool = True
    # A slow server: a message to one of these addresses is answered only once ``release`` is set; ``holding``
    # counts those waiting now.
    hold_for: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    holding: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed with the ``email`` package (modern policy)."""
        with self._lock:
            return [item.parsed() for item in self.received]

    # aiosmtpd hook: called in the server's own thread and event loop.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with is not None:
            return self.refuse_with
        for address in envelope.rcpt_tos:
            if address in self.refuse_for:
                return self.refuse_for[address]
        if self.hold_for.intersection(envelope.rcpt_tos):
            self.holding += 1
            try:
                await asyncio.to_thread(self.release.wait, 30)
            finally:
                self.holding -= 1
        self.accept(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 Message accepted for delivery"

    def accept(self, message: ReceivedMessage) -> None:
        """Keep an accepted message (a subclass may record it elsewhere instead)."""
        with self._lock:
            self.received.append(message)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if self.credentials.get(login) != password:
            return AuthResult(success=False, handled=False)
        self.logins.append(login)
        return AuthResult(success=True)


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def smtp_settings(port: int) -> dict[str, Any]:
    """The settings (``make_settings`` overrides) that send the service's mail to the test server on ``port``."""
    return {"smtp_host": HOST, "smtp_port": port, "smtp_security": "none"}


Server = TypeVar("Server", bound=SmtpServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Serve ``server`` on its host and port until the block ends."""
    options: dict[str, Any] = {"decode_data": not server.eight_bit}
    if server.credentials is not None:
        # Plain-text AUTH is fine on loopback in a test; production SMTP uses STARTTLS or TLS.
        options |= {"authenticator": server.authenticate, "auth_require_tls": False}
    # server_hostname: the name in the greeting, given so that starting never waits on a DNS lookup.
    controller = Controller(
        server, hostname=server.host, port=server.port, server_hostname="localhost", **options
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@contextmanager
def running_smtp_server(
    *, port: int | None = None, credentials: dict[str, str] | None = None
) -> Iterator[SmtpServer]:
    """Start an SMTP server on 127.0.0.1 (on ``port``, or a free one) and stop it on exit."""
    with serving(SmtpServer(host=HOST, port=port or free_port(), credentials=credentials)) as server:
        yield server
