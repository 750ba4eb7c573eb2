"""Contract section 3, "Statuses": every operator action tried on a request in every status it can reach,
through the API. Where the contract allows the move, the request ends in the status it names; anywhere else
the answer is 409 ``invalid_transition`` and nothing changes. The moves only the service makes (the customer's
link, the worker, the sweep) are checked against ``next_status``.

The expectations are the contract's sentences, written out below; they are not app/core/lifecycle.py's table.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.errors import InvalidTransition
from app.core.lifecycle import Action, Status, next_status

from ..conftest import bearer
from ..factories import write_crm
from ..helpers import detail, submit
from ..jobs.support import http_source_yaml
from ..processing.world import confirmed_deletion, work
from ..sources.http_source import HttpSourceServer


@pytest.fixture
def sources_file(tmp_path: Path, remote: HttpSourceServer) -> Path:
    """The CRM and a remote loyalty system: when the remote fails, so does automatic work."""
    return write_crm(tmp_path / "crm", extra_sources=http_source_yaml(remote.url, attempts=1))


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 1}  # automatic work fails at its first error


@dataclass
class World:
    client: httpx.AsyncClient
    keys: dict[str, str]
    app: FastAPI
    remote: HttpSourceServer

    @property
    def operator(self) -> dict[str, str]:
        return bearer(self.keys["operator"])

    async def accept(self, request_id: str, handling: str) -> httpx.Response:
        return await self.client.post(
            f"/v1/privacy-requests/{request_id}/accept", json={"handling": handling}, headers=self.operator
        )

    async def dismiss(self, request_id: str) -> httpx.Response:
        return await self.client.delete(
            f"/v1/privacy-requests/{request_id}",
            params={"reason": "Duplicate of a letter", "notify": "false"},
            headers=self.operator,
        )


@pytest.fixture
def world(client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, remote: HttpSourceServer) -> World:
    return World(client, keys, app, remote)


# The operator's actions (contract section 3, "Endpoints").
ACTIONS: dict[str, Callable[[World, str], Awaitable[httpx.Response]]] = {
    "accept automatic": lambda w, request_id: w.accept(request_id, "automatic"),
    "accept manual": lambda w, request_id: w.accept(request_id, "manual"),
    "fulfil": lambda w, request_id: w.client.post(
        f"/v1/privacy-requests/{request_id}/fulfil", json={"send_download_link": False}, headers=w.operator
    ),
    "extend": lambda w, request_id: w.client.post(
        f"/v1/privacy-requests/{request_id}/extend", json={"reason": "Archived systems"}, headers=w.operator
    ),
    "resend verification": lambda w, request_id: w.client.post(
        f"/v1/privacy-requests/{request_id}/resend-verification", headers=w.operator
    ),
    "dismiss": lambda w, request_id: w.dismiss(request_id),
}


# Each status a request can be in, reached the way a request reaches it; the state's name is
# "<type> <status>" (and the handling, where the contract's rules depend on it).
async def _access(w: World) -> str:
    return str((await submit(w.client, w.keys["app"], type="access", email="ada@example.com"))["id"])


async def _accepted(w: World, handling: str) -> str:
    request_id = await _access(w)
    assert (await w.accept(request_id, handling)).status_code == 200
    return request_id


async def _access_worked(w: World, *, failing: bool) -> str:
    w.remote.fail_next = 10**6 if failing else 0
    request_id = await _accepted(w, "automatic")
    await work(w.app)
    return request_id


async def _deletion(w: World) -> str:
    return str((await submit(w.client, w.keys["app"], type="deletion", email="ada@example.com"))["id"])


async def _confirmed(w: World) -> str:
    settings = w.app.state.ctx.settings
    return await confirmed_deletion(w.client, w.keys, settings.mail_dir, w.app, email="ada@example.com")


async def _deletion_worked(w: World, *, failing: bool) -> str:
    w.remote.fail_next = 10**6 if failing else 0
    request_id = await _confirmed(w)
    await work(w.app)
    return request_id


async def _expired(w: World) -> str:
    request_id = await _deletion(w)
    clock.freeze(clock.now() + w.app.state.ctx.settings.verification_ttl + timedelta(minutes=1))
    await work(w.app)  # the worker's sweep expires it
    return request_id


async def _dismissed(w: World, new: Callable[[World], Awaitable[str]]) -> str:
    request_id = await new(w)
    assert (await w.dismiss(request_id)).status_code == 200
    return request_id


STATES: dict[str, Callable[[World], Awaitable[str]]] = {
    "access pending": _access,
    "access in_progress automatic": lambda w: _accepted(w, "automatic"),
    "access in_progress manual": lambda w: _accepted(w, "manual"),
    "access processed": lambda w: _access_worked(w, failing=False),
    "access failed": lambda w: _access_worked(w, failing=True),
    "access deleted": lambda w: _dismissed(w, _access),
    "deletion unverified": _deletion,
    "deletion in_progress": _confirmed,
    "deletion processed": lambda w: _deletion_worked(w, failing=False),
    "deletion failed": lambda w: _deletion_worked(w, failing=True),
    "deletion expired": _expired,
    "deletion deleted": lambda w: _dismissed(w, _deletion),
}

OPEN = [state for state in STATES if state.split()[1] in ("unverified", "pending", "in_progress", "failed")]

# Contract section 3, sentence by sentence: (state, action) -> the status after. Every pair not named here is
# "any other transition: 409 invalid_transition, and nothing changes".
ALLOWED: dict[tuple[str, str], str] = {
    # "access: pending -accept(automatic)-> in_progress -> processed; pending -accept(manual)-> in_progress
    #  -fulfil-> processed"; fulfil is for a "manual access request in in_progress".
    ("access pending", "accept automatic"): "in_progress",
    ("access pending", "accept manual"): "in_progress",
    ("access in_progress manual", "fulfil"): "processed",
    # "automatic work that keeps failing after its retries -> failed; accept again to retry"; accept takes "any
    #  request in failed ... (for a deletion, the erasure; handling automatic only)".
    ("access failed", "accept automatic"): "in_progress",
    ("access failed", "accept manual"): "in_progress",
    ("deletion failed", "accept automatic"): "in_progress",
    # "an operator may delete (dismiss) a request in unverified, pending, failed, or in_progress with manual
    #  handling -> deleted".
    ("access pending", "dismiss"): "deleted",
    ("access failed", "dismiss"): "deleted",
    ("access in_progress manual", "dismiss"): "deleted",
    ("deletion unverified", "dismiss"): "deleted",
    ("deletion failed", "dismiss"): "deleted",
    # resend-verification: "unverified only; a new link".
    ("deletion unverified", "resend verification"): "unverified",
    # extend: "once, before due_at" the deadline of a request still open; the status stays.
    **{(state, "extend"): state.split()[1] for state in OPEN},
}


REFUSED = {state: [action for action in ACTIONS if (state, action) not in ALLOWED] for state in STATES}


async def _in_state(world: World, state: str) -> tuple[str, dict[str, Any]]:
    """A new request in ``state``: its id and its detail view."""
    request_id = await STATES[state](world)
    view = await detail(world.client, world.keys["operator"], request_id)
    assert view["status"] == state.split()[1], "the request did not reach the state under test"
    return request_id, view


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
async def test_an_allowed_action_moves_the_request_as_the_contract_says(
    world: World, state: str, action: str
) -> None:
    request_id, _before = await _in_state(world, state)

    response = await ACTIONS[action](world, request_id)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == ALLOWED[state, action]
    assert (await detail(world.client, world.keys["operator"], request_id))["status"] == ALLOWED[
        state, action
    ]


@pytest.mark.parametrize("state", [state for state in STATES if REFUSED[state]])
async def test_every_other_action_is_a_409_and_changes_nothing(world: World, state: str) -> None:
    request_id, before = await _in_state(world, state)

    answers = {}
    for action in REFUSED[state]:
        response = await ACTIONS[action](world, request_id)
        after = await detail(world.client, world.keys["operator"], request_id)
        answers[action] = (response.status_code, response.json().get("error"), after == before)

    assert answers == dict.fromkeys(REFUSED[state], (409, "invalid_transition", True))


# The moves the service makes, not an operator (contract section 3, "Statuses"): the customer's confirmation,
# the automatic work finishing or failing after its retries, the confirmation link expiring.
SERVICE_MOVES: dict[tuple[str, Status, Action], Status] = {
    # "deletion: unverified -customer confirms-> in_progress -> processed; unverified -link expires-> expired"
    ("deletion", Status.UNVERIFIED, Action.CONFIRM): Status.IN_PROGRESS,
    ("deletion", Status.IN_PROGRESS, Action.COMPLETE): Status.PROCESSED,
    ("deletion", Status.UNVERIFIED, Action.EXPIRE): Status.EXPIRED,
    # "access: pending -accept(automatic)-> in_progress -> processed"
    ("access", Status.IN_PROGRESS, Action.COMPLETE): Status.PROCESSED,
    # "automatic work that keeps failing after its retries -> failed"
    ("access", Status.IN_PROGRESS, Action.FAIL): Status.FAILED,
    ("deletion", Status.IN_PROGRESS, Action.FAIL): Status.FAILED,
}


@pytest.mark.parametrize(
    ("type_", "status", "action"),
    list(
        itertools.product(
            ("access", "deletion"), Status, (Action.CONFIRM, Action.COMPLETE, Action.FAIL, Action.EXPIRE)
        )
    ),
)
def test_a_move_the_service_makes_happens_only_where_the_contract_says(
    type_: str, status: Status, action: Action
) -> None:
    expected = SERVICE_MOVES.get((type_, status, action))
    if expected is None:
        with pytest.raises(InvalidTransition):
            next_status(type=type_, status=status, action=action)
    else:
        assert next_status(type=type_, status=status, action=action) is expected
