"""Events are written to the outbox in the transaction of the change: a change that rolls back sends nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.models import Job, WebhookDelivery, WebhookEvent
from app.requests import actions

from ..helpers import submit
from ..processing.world import work
from .conftest import subscribe
from .receiver import Receiver


class ChangeFailed(Exception):
    pass


async def _count(app: FastAPI, model: type[WebhookEvent] | type[WebhookDelivery]) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_change_that_rolls_back_sends_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    await subscribe(client, keys["admin"], receiver, ["request.received", "request.accepted"])
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await work(app)
    assert receiver.types() == ["request.received"]

    async def accept_then_fail() -> None:
        async with unit_of_work(app.state.sessionmaker) as session:
            await actions.accept(
                session, app.state.ctx, request_id=uuid.UUID(request["id"]), handling="manual", actor="op"
            )
            await session.flush()
            # Inside the change's transaction the event, its delivery and its job are written...
            assert await session.scalar(select(func.count()).select_from(WebhookEvent)) == 2
            assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
            jobs = select(func.count()).select_from(Job).where(Job.kind == "deliver_webhook")
            assert await session.scalar(jobs) == 2
            raise ChangeFailed("the change fails after it was written")

    with pytest.raises(ChangeFailed):
        await accept_then_fail()

    # ...and with the change they are gone.
    assert await _count(app, WebhookEvent) == 1
    assert await _count(app, WebhookDelivery) == 1
    await work(app)
    assert receiver.types() == ["request.received"]
    assert len(receiver.calls) == 1


async def test_without_a_subscription_nothing_is_written(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    await submit(client, keys["app"], type="access", email="ada@example.com")
    assert await _count(app, WebhookEvent) == 0
    async with app.state.sessionmaker() as session:
        jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "deliver_webhook")
        )
    assert jobs == 0


async def test_one_session_sees_a_subscription_made_after_its_earlier_transaction(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, receiver: Receiver
) -> None:
    """A transaction reads the subscriptions once for all its flushes; the next one reads them again."""
    first = await submit(client, keys["app"], type="access", email="ada@example.com")
    second = await submit(client, keys["app"], type="access", email="grace@example.com")
    async with app.state.sessionmaker() as session:
        await actions.accept(
            session, app.state.ctx, request_id=uuid.UUID(first["id"]), handling="manual", actor="op"
        )
        await session.commit()  # no subscription yet: no event
        assert await _count(app, WebhookEvent) == 0
        await subscribe(client, keys["admin"], receiver, ["request.accepted"])
        await actions.accept(
            session, app.state.ctx, request_id=uuid.UUID(second["id"]), handling="manual", actor="op"
        )
        await session.commit()
    await work(app)
    assert receiver.types() == ["request.accepted"]
    assert receiver.messages[0].payload["data"]["id"] == second["id"]
