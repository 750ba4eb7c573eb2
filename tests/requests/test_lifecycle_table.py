"""The lifecycle table itself: every (type, status, action) either moves as the contract says or is refused."""

from __future__ import annotations

import itertools

import pytest

from app.core.errors import InvalidTransition
from app.core.lifecycle import Action, Status, next_status

ALLOWED = {
    ("access", "pending", "accept"): "in_progress",
    ("access", "failed", "retry"): "in_progress",
    ("access", "in_progress", "complete"): "processed",
    ("access", "in_progress", "fulfil"): "processed",
    ("access", "in_progress", "fail"): "failed",
    ("deletion", "unverified", "confirm"): "in_progress",
    ("deletion", "unverified", "expire"): "expired",
    ("deletion", "unverified", "resend"): "unverified",
    ("deletion", "failed", "retry"): "in_progress",
    ("deletion", "in_progress", "complete"): "processed",
    ("deletion", "in_progress", "fail"): "failed",
}
for _type in ("access", "deletion"):
    for _status in ("unverified", "pending", "in_progress", "failed"):
        ALLOWED[(_type, _status, "extend")] = _status
    for _status in ("unverified", "pending", "failed"):
        ALLOWED[(_type, _status, "dismiss")] = "deleted"


@pytest.mark.parametrize(
    ("type_", "status", "action"), list(itertools.product(("access", "deletion"), Status, Action))
)
def test_every_combination(type_: str, status: Status, action: Action) -> None:
    expected = ALLOWED.get((type_, status.value, action.value))
    if expected is None and not (action is Action.DISMISS and status is Status.IN_PROGRESS):
        with pytest.raises(InvalidTransition):
            next_status(type=type_, status=status, action=action)
    elif expected is not None:
        assert next_status(type=type_, status=status, action=action) == expected


@pytest.mark.parametrize("type_", ["access", "deletion"])
def test_in_progress_is_dismissable_only_under_manual_handling(type_: str) -> None:
    assert (
        next_status(type=type_, status="in_progress", action=Action.DISMISS, handling="manual") == "deleted"
    )
    with pytest.raises(InvalidTransition):
        next_status(type=type_, status="in_progress", action=Action.DISMISS, handling="automatic")


@pytest.mark.parametrize("status", ["processed", "deleted", "expired"])
def test_closed_requests_accept_nothing(status: str) -> None:
    for type_, action in itertools.product(("access", "deletion"), Action):
        with pytest.raises(InvalidTransition):
            next_status(type=type_, status=status, action=action, handling="manual")
