"""One address in front of several replicas: a small reverse proxy for tests, a Starlette app served by uvicorn
on 127.0.0.1 in a background thread, sending each request to the next replica in turn (round robin).

It does what a load balancer in front of the service must do: it appends the caller's address to
``X-Forwarded-For`` (the replicas trust it through FORWARDED_ALLOW_IPS), and it says which replica answered in
an ``x-upstream`` header of the response (the replica's index), so a test can tell.

    with running_proxy(["http://127.0.0.1:8001", "http://127.0.0.1:8002"]) as proxy:
        httpx.get(proxy.url + "/healthz").headers["x-upstream"]   # "0", then "1", then "0" ...
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own; the length and encoding are the proxy's too, as it
# hands on the decoded body.
_NOT_FORWARDED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
_NOT_RETURNED = _NOT_FORWARDED | {"content-encoding"}


@dataclass
class Proxy:
    upstreams: list[str]
    url: str = ""
    # (method, path, upstream index, status) of every request it forwarded, in order.
    log: list[tuple[str, str, int, int]] = field(default_factory=list)
    _next: Iterator[int] = field(init=False)

    def __post_init__(self) -> None:
        self._next = itertools.cycle(range(len(self.upstreams)))


def _app(proxy: Proxy) -> Starlette:
    client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal client
        # The proxy's own waits are longer than any the test allows a request; no redirect is followed (the
        # caller sees the replica's answer as it is).
        async with httpx.AsyncClient(timeout=60, follow_redirects=False) as opened:
            client = opened
            yield

    async def forward(request: Request) -> Response:
        assert client is not None
        index = next(proxy._next)  # one event loop: no lock needed
        peer = request.client.host if request.client else "unknown"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]
        prior = request.headers.get("x-forwarded-for")
        headers = [(k, v) for k, v in headers if k.lower() not in {"x-forwarded-for", "x-forwarded-proto"}]
        headers.append(("x-forwarded-for", f"{prior}, {peer}" if prior else peer))
        headers.append(("x-forwarded-proto", request.url.scheme))
        target = proxy.upstreams[index] + request.url.path
        if request.url.query:
            target += "?" + request.url.query
        answer = await client.request(request.method, target, headers=headers, content=await request.body())
        proxy.log.append((request.method, request.url.path, index, answer.status_code))
        returned = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _NOT_RETURNED]
        response = Response(content=answer.content, status_code=answer.status_code)
        for key, value in returned:
            response.headers.append(key, value)
        response.headers["x-upstream"] = str(index)
        return response

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan)


@contextmanager
def running_proxy(upstreams: list[str]) -> Iterator[Proxy]:
    """Serve a round-robin proxy to ``upstreams`` on a free port of 127.0.0.1 for the block."""
    proxy = Proxy(upstreams=upstreams)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    # proxy_headers=False: the proxy is the first hop, its callers' own X-Forwarded-For is only passed on.
    config = uvicorn.Config(
        _app(proxy), log_config=None, lifespan="on", ws="none", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="proxy")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test proxy did not start")
        time.sleep(0.01)
    try:
        yield proxy
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
