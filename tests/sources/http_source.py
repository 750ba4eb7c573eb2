"""A real HTTP data source for tests: a Starlette app speaking the contract's protocol, served by uvicorn on
127.0.0.1 on a free port in a background thread.

    with running_http_source() as remote:
        remote.data["cus_0001"] = {"points": [{"balance": 120}]}
        remote.refusals["cus_0001"] = [{"code": "legal_hold", "message": "..."}]
        remote.fail_next = 2          # the next two calls answer 500
        remote.fail_status = 503      # ...or this status instead
        remote.delay = 1.0            # every answer waits this long (a timeout)
        ...url = remote.url + "/gdpr/customers/{customer_id}"...
        remote.calls                  # [(method, path, query, headers)], what the source received
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class HttpSourceServer:
    url: str = ""
    data: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    refusals: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 500
    delay: float = 0.0
    required_headers: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> Response:
        key = request.path_params["key"]
        with self.lock:
            self.calls.append((request.method, request.url.path, request.url.query, dict(request.headers)))
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
        if self.delay:
            await anyio.sleep(self.delay)
        if failing:
            return JSONResponse({"detail": "failing on purpose"}, status_code=self.fail_status)
        for header, value in self.required_headers.items():
            if request.headers.get(header) != value:
                return JSONResponse({"detail": "unauthorized"}, status_code=401)
        if request.method == "GET":
            entities = self.data.get(key)
            return JSONResponse({"entities": entities}) if entities else Response(status_code=404)
        if request.query_params.get("dry_run") == "true":
            errors = self.refusals.get(key)
            return JSONResponse({"errors": errors}, status_code=403) if errors else Response(status_code=204)
        entities = self.data.pop(key, None)
        if not entities:
            return Response(status_code=204)
        return JSONResponse({"entities": {name: len(records) for name, records in entities.items()}})


@contextmanager
def running_http_source() -> Iterator[HttpSourceServer]:
    """Serve a fresh :class:`HttpSourceServer` for the duration of the block."""
    remote = HttpSourceServer()
    app = Starlette(routes=[Route("/gdpr/customers/{key}", remote.handle, methods=["GET", "DELETE"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    remote.url = f"http://127.0.0.1:{port}"
    # log_config=None: leave the process's logging alone (uvicorn's own config would stop its loggers propagating).
    config = uvicorn.Config(app, log_config=None, lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test HTTP source did not start")
        time.sleep(0.01)
    try:
        yield remote
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
