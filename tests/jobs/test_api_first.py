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
async def request_answered(app: FastAPI) -> AsyncIterator[None]:
    """A request being worked on for as long as the block runs, as TrafficMiddleware counts one."""
    app.state.traffic.enter()
    try:
        yield
    finally:
        app.state.traffic.leave()


async def sent(app: FastAPI) -> bool:
    return [row.status for row in await emails(app.state.sessionmaker)] == ["sent"]


async def test_the_embedded_worker_waits_while_the_api_answers_then_sends(settings: Settings) -> None:
    async with serving_with_worker(settings) as app:
        app.state.traffic.max_wait = 60.0  # no bound in this test: the wait ends when the request does
        keys = await role_keys(app)
        async with client_of(app) as client:
            async with request_answered(app):
                await submit(client, keys["app"], type="access", email="ada@example.com")
                await asyncio.sleep(
                    0.5
                )  # the worker was woken by the submit; without the wait it sends at once
                assert [row.status for row in await emails(app.state.sessionmaker)] == ["pending"]
            await wait_until(lambda: sent(app), within=10, what="the acknowledgement once the API was quiet")


async def test_under_a_steady_stream_of_requests_the_worker_still_moves_on(settings: Settings) -> None:
    async with serving_with_worker(settings) as app:
        keys = await role_keys(app)
        async with client_of(app) as client, request_answered(app):
            await submit(client, keys["app"], type="access", email="ada@example.com")
            # The API never goes quiet here: each of the worker's waits ends after MAX_WAIT.
            await wait_until(lambda: sent(app), within=20, what="the acknowledgement under traffic")
            assert app.state.traffic.in_flight == 1


async def test_a_request_waiting_for_its_body_does_not_hold_the_worker_back(settings: Settings) -> None:
    """A client that opens a POST and sends its body slowly (or never) costs the service nothing meanwhile."""
    async with serving_with_worker(settings) as app:
        sending = asyncio.Event()
        arrived = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            sending.set()
            await arrived.wait()
            yield b"{}"

        async with client_of(app) as client:
            answering = asyncio.create_task(
                client.post(
                    "/v1/privacy-requests", content=body(), headers={"Content-Type": "application/json"}
                )
            )
            await asyncio.wait_for(sending.wait(), 5)
            await asyncio.sleep(0.05)
            assert app.state.traffic.in_flight == 0
            arrived.set()
            assert (await answering).status_code == 401  # no key: it was only ever there to be slow
        assert app.state.traffic.in_flight == 0


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
    """A transaction may hold locks that a request being answered waits for: once begun, it runs to its end, and
    a session the same task opens meanwhile does not wait either."""
    traffic = Traffic(max_wait=60.0)
    sessions = yielding_sessionmaker(app.state.engine, traffic.quiet)

    async def count_in_a_transaction() -> int:
        async with sessions() as session:
            first = await session.scalar(select(func.count()).select_from(Email))
            traffic.enter()  # a request arrives while the transaction is open
            second = await session.scalar(select(func.count()).select_from(Email))
            async with sessions():  # opened (not used: one SQLite writer) while the transaction is open
                pass
            await session.commit()
            return int(first or 0) + int(second or 0)

    traffic.enter()  # a request is being answered
    counting = asyncio.create_task(count_in_a_transaction())
    await asyncio.sleep(0.2)
    assert not counting.done(), "the transaction waited to begin"
    traffic.leave()
    assert await asyncio.wait_for(counting, 5) == 0
    traffic.leave()


async def test_a_body_already_arrived_does_not_release_the_waiting_worker() -> None:
    """Reading a body that is already there leaves the count and comes back without yielding: a worker
    waiting meanwhile goes on waiting, or every POST would let it in at the start of its own work."""
    traffic = Traffic(max_wait=60.0)
    traffic.enter()  # a request is being answered
    waiting = asyncio.create_task(traffic.quiet())
    await asyncio.sleep(0.05)
    traffic.leave()  # it reads its body, already arrived: out and back in one step
    traffic.enter()
    await asyncio.sleep(0.2)
    assert not waiting.done()
    traffic.leave()  # answered
    await asyncio.wait_for(waiting, 5)
