"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on a free port, collecting what it receives.

Use ``running_smtp_server()`` as a context manager (or the ``smtp_server`` fixture in this folder's conftest):

    with running_smtp_server() as server:
        ...send to server.host, server.port...
        server.messages[0]["Subject"]

``server.refuse_with = "451 4.3.0 Try again later"`` makes it refuse every message until reset to ``None``;
``credentials={"user": "secret"}`` turns on AUTH (PLAIN/LOGIN, allowed without TLS for the test).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
    credentials: dict[str, str] | None = None
    logins: list[str] = field(default_factory=list)
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
        with self._lock:
            self.received.append(
                ReceivedMessage(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 Message accepted for delivery"

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


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_smtp_server(*, credentials: dict[str, str] | None = None) -> Iterator[SmtpServer]:
    """Start an SMTP server on 127.0.0.1 and stop it on exit."""
    server = SmtpServer(host="127.0.0.1", port=free_port(), credentials=credentials)
    options: dict[str, Any] = {}
    if credentials is not None:
        # Plain-text AUTH is fine on loopback in a test; production SMTP uses STARTTLS or TLS.
        options = {"authenticator": server.authenticate, "auth_require_tls": False}
    controller = Controller(server, hostname=server.host, port=server.port, **options)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
