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
    run: Callable[[], Awaitable[None]],
    calls: list[tuple[str, float]],
    name: str,
    counted_enough: Callable[[], None],
) -> Callable[[], Awaitable[None]]:
    async def counted() -> None:
        calls.append((name, asyncio.get_running_loop().time()))
        counted_enough()
        await run()

    return counted


async def _run_until(
    app: FastAPI,
    enough: Callable[[list[str]], bool],
    *,
    housekeeping_every: timedelta,
) -> tuple[list[tuple[str, float]], float]:
    """Run the worker until ``enough`` holds for the calls so far (a slow machine takes longer, it does not
    fail); the calls with the loop time each began, and the seconds the worker ran."""
    worker = app.state.worker
    assert worker.periodic is not None
    assert worker.housekeeping is not None
    calls: list[tuple[str, float]] = []
    done = asyncio.Event()

    def counted_enough() -> None:
        if enough([name for name, _ in calls]):
            done.set()

    worker.periodic = _counted(worker.periodic, calls, "deadlines", counted_enough)
    worker.housekeeping = _counted(worker.housekeeping, calls, "housekeeping", counted_enough)
    worker.housekeeping_interval = housekeeping_every
    loop = asyncio.get_running_loop()
    began = loop.time()
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(done.wait(), timeout=30)
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=10)
    return calls, loop.time() - began


async def test_deadlines_every_poll_and_retention_once_a_minute(app: FastAPI) -> None:
    calls, ran = await _run_until(
        app, lambda names: names.count("deadlines") >= 5, housekeeping_every=timedelta(minutes=1)
    )
    assert ran < 60
    names = [name for name, _ in calls]
    # Retention ran at start, then not again within the minute, while the deadline steps ran at every poll.
    assert names.count("housekeeping") == 1
    assert names.count("deadlines") >= 5
    began = [at for name, at in calls if name == "deadlines"]
    assert all(later - earlier >= 0.04 for earlier, later in zip(began, began[1:], strict=False))


async def test_housekeeping_comes_round_again_after_its_interval(app: FastAPI) -> None:
    calls, _ = await _run_until(
        app, lambda names: names.count("housekeeping") >= 3, housekeeping_every=timedelta(seconds=0.25)
    )
    names = [name for name, _ in calls]
    assert names.count("housekeeping") >= 3
    began = [at for name, at in calls if name == "housekeeping"]
    # Never sooner than its interval (less the moment between the loop's clock read and this one's) ...
    assert all(later - earlier >= 0.24 for earlier, later in zip(began, began[1:], strict=False))
    # ... and the deadline steps ran between each two rounds of it.
    rounds = "".join("H" if name == "housekeeping" else "d" for name in names)
    assert "HH" not in rounds
    assert names.count("deadlines") > names.count("housekeeping")


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
