"""A real webhook receiver for tests: a Starlette app served by uvicorn on 127.0.0.1 in a background thread,
verifying every delivery's signature with the Standard Webhooks reference library, as a receiver would.

    with running_receiver() as receiver:
        receiver.secret = created["secret"]   # the secret POST /v1/webhooks showed once
        receiver.failing = 2                  # the next two deliveries answer 503
        ...receiver.url...
        receiver.messages                     # the verified deliveries it accepted (2xx), in order
        receiver.calls                        # every POST it answered, accepted or not

A port with nothing listening (``free_port()``) plays a receiver that is down: connections are refused until
``running_receiver(port=...)`` starts one there.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Message:
    webhook_id: str
    body: str
    payload: dict[str, Any]
    headers: dict[str, str]

    @property
    def type(self) -> str:
        return str(self.payload["type"])


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    failing: int = 0
    fail_status: int = 503
    messages: list[Message] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)
    forged: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        raw = (await request.body()).decode()
        headers = dict(request.headers)
        with self.lock:
            self.calls.append(headers)
            if self.failing > 0:
                self.failing -= 1
                return Response(status_code=self.fail_status)
        try:
            payload = Webhook(self.secret).verify(raw, headers)
        except WebhookVerificationError as error:
            with self.lock:
                self.forged.append(f"{headers.get('webhook-id')}: {error}")
            return Response(status_code=400)
        with self.lock:
            self.messages.append(Message(headers["webhook-id"], raw, payload, headers))
        return Response(status_code=204)

    def types(self) -> list[str]:
        return [message.type for message in self.messages]


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening: a connection there is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_receiver(receiver: Receiver | None = None, *, port: int = 0) -> Iterator[Receiver]:
    """Serve ``receiver`` (or a fresh one) on ``port`` (any free one by default) for the block."""
    receiver = receiver or Receiver()
    app = Starlette(routes=[Route("/hooks", receiver.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hooks"
    config = uvicorn.Config(app, log_config=None, lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test webhook receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
