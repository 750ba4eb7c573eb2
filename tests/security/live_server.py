"""A real uvicorn server of the app on 127.0.0.1, in a thread, with a handle to run coroutines on its loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from ..notifications.smtp_server import free_port as free_port  # re-exported for the live-server tests

T = TypeVar("T")


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coroutine`` on the server's event loop (where the app's engine lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@contextmanager
def live_server(app: FastAPI, *, port: int | None = None) -> Iterator[LiveServer]:
    """Serve ``app`` (lifespan included) until the block ends. Logging goes to the root logger, so caplog
    sees the access log as a deployment would write it."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=True, lifespan="on")
    server = uvicorn.Server(config)
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(app=app, base_url=f"http://127.0.0.1:{port}", loop=loops[0])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
