"""The running worker's schedule: the deadline steps at every poll interval, retention (purges, pruning,
redaction) once a housekeeping interval, so an idle worker does not open a dozen transactions a second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from app.requests import sweep as requests_sweep
from app.wiring import HOUSEKEEPING_STEPS, SWEEP_STEPS


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"worker_poll_interval": "PT0.05S"}


def _counted(
    run: Callable[[], Awaitable[None]], calls: list[str], name: str
) -> Callable[[], Awaitable[None]]:
    async def counted() -> None:
        calls.append(name)
        await run()

    return counted


async def _run_for(app: FastAPI, seconds: float, *, housekeeping_every: timedelta) -> list[str]:
    worker = app.state.worker
    assert worker.periodic is not None
    assert worker.housekeeping is not None
    calls: list[str] = []
    worker.periodic = _counted(worker.periodic, calls, "deadlines")
    worker.housekeeping = _counted(worker.housekeeping, calls, "housekeeping")
    worker.housekeeping_interval = housekeeping_every
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(seconds)
    worker.stop()
    await asyncio.wait_for(task, timeout=10)
    return calls


async def test_deadlines_every_poll_and_retention_once_a_minute(app: FastAPI) -> None:
    calls = await _run_for(app, 0.6, housekeeping_every=timedelta(minutes=1))
    assert calls.count("housekeeping") == 1  # at start, then not again within the minute
    assert calls.count("deadlines") >= 4  # every 0.05 s poll while idle (loose: a busy machine is slower)


async def test_housekeeping_comes_round_again_after_its_interval(app: FastAPI) -> None:
    calls = await _run_for(app, 0.8, housekeeping_every=timedelta(seconds=0.25))
    assert 2 <= calls.count("housekeeping") < calls.count("deadlines")


def test_every_step_is_scheduled_once() -> None:
    steps = [*SWEEP_STEPS, *HOUSEKEEPING_STEPS]
    assert len(steps) == len(set(steps))
    # The steps that act on a deadline or an expiry run at every poll.
    assert set(requests_sweep.STEPS) <= set(SWEEP_STEPS)
    assert {step.__name__ for step in SWEEP_STEPS} == {
        "expire_unconfirmed",
        "auto_handle",
        "alert_due_soon",
        "alert_overdue",
    }
