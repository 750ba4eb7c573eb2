"""`serve` with its embedded worker answers the API first: the worker waits for a moment when no request is being
answered before each job and each statement, a bounded wait, so it still moves on under a steady stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.traffic import Traffic, TrafficMiddleware, yielding_sessionmaker
from app.main import create_app
from app.models import Email

from ..conftest import client_of, role_keys
from ..helpers import submit
from .support import emails, wait_until


@asynccontextmanager
async def serving_with_worker(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, run_worker=True)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def request_in_flight(app: FastAPI) -> AsyncIterator[None]:
    """A POST whose body is still on its way for as long as the block runs: the API is answering it."""
    arrived = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        await arrived.wait()
        yield b"{}"

    async with client_of(app) as client:
        answering = asyncio.create_task(
            client.post("/v1/privacy-requests", content=body(), headers={"Content-Type": "application/json"})
        )

        async def counted() -> bool:
            return bool(app.state.traffic.in_flight)

        await wait_until(counted, within=5, what="the request to arrive", interval=0.01)
        try:
            yield
        finally:
            arrived.set()
            answer = await answering
    assert answer.status_code == 401  # no key: it was only ever there to be answered


async def sent(app: FastAPI) -> bool:
    return [row.status for row in await emails(app.state.sessionmaker)] == ["sent"]


async def test_the_embedded_worker_waits_while_the_api_answers_then_sends(settings: Settings) -> None:
    async with serving_with_worker(settings) as app:
        app.state.traffic.max_wait = 60.0  # no bound in this test: the wait ends when the request does
        keys = await role_keys(app)
        async with request_in_flight(app), client_of(app) as client:
            await submit(client, keys["app"], type="access", email="ada@example.com")
            await asyncio.sleep(0.5)  # the worker was woken by the submit; without the wait it sends at once
            assert [row.status for row in await emails(app.state.sessionmaker)] == ["pending"]
        await wait_until(lambda: sent(app), within=10, what="the acknowledgement once the API was quiet")


async def test_under_a_steady_stream_of_requests_the_worker_still_moves_on(settings: Settings) -> None:
    async with serving_with_worker(settings) as app:
        keys = await role_keys(app)
        async with request_in_flight(app), client_of(app) as client:
            await submit(client, keys["app"], type="access", email="ada@example.com")
            # The API never goes quiet here: each of the worker's waits ends after MAX_WAIT.
            await wait_until(lambda: sent(app), within=20, what="the acknowledgement under traffic")
            assert app.state.traffic.in_flight == 1


async def test_a_request_counts_until_its_status_line_is_sent() -> None:
    """A download streaming to a slow client does not hold the worker back once its answer has begun."""
    traffic = Traffic()
    started = asyncio.Event()
    finish = asyncio.Event()
    seen: list[int] = []

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(traffic.in_flight)  # being answered
        await send({"type": "http.response.start", "status": 200, "headers": []})
        started.set()
        await finish.wait()
        await send({"type": "http.response.body", "body": b"the rest", "more_body": False})

    app = TrafficMiddleware(streaming, traffic)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        downloading = asyncio.create_task(client.get("/"))
        await asyncio.wait_for(started.wait(), 5)
        assert traffic.in_flight == 0
        await traffic.quiet()  # returns at once: nothing is being answered
        finish.set()
        assert (await downloading).content == b"the rest"
    assert seen == [1]
    assert traffic.in_flight == 0


async def test_the_worker_waits_before_a_transaction_never_inside_one(app: FastAPI) -> None:
    """A transaction may hold locks that a request being answered waits for: once begun, it runs to its end."""
    traffic = Traffic(max_wait=60.0)
    sessions = yielding_sessionmaker(app.state.engine, traffic.quiet)
    traffic.enter()  # a request is being answered
    async with sessions() as session:
        first = asyncio.create_task(session.scalar(select(func.count()).select_from(Email)))
        await asyncio.sleep(0.2)
        assert not first.done(), "the transaction waited to begin"
        traffic.leave()
        assert await asyncio.wait_for(first, 5) == 0
        traffic.enter()  # another request arrives while the transaction is open
        assert await asyncio.wait_for(session.scalar(select(func.count()).select_from(Email)), 5) == 0
        await asyncio.wait_for(session.commit(), 5)
    traffic.leave()
