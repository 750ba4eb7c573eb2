"""The request lifecycle, the one place statuses and moves are written: (type, status, action) -> new status.

Every change goes through :func:`next_status`; the ORM table's partial indexes, the API's schemas and the
sweep read their statuses from here. It lives in ``core`` because the models (below every domain) need it.
"""

from __future__ import annotations

from enum import StrEnum

from app.core.errors import InvalidTransition


class Status(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    PROCESSED = "processed"
    FAILED = "failed"
    DELETED = "deleted"
    EXPIRED = "expired"


class Action(StrEnum):
    ACCEPT = "accept"  # operator or system accepts an access request
    RETRY = "retry"  # operator accepts a failed request again
    CONFIRM = "confirm"  # customer confirms a deletion
    COMPLETE = "complete"  # automatic work finished
    FULFIL = "fulfil"  # operator marks a manual access request fulfilled
    FAIL = "fail"  # automatic work failed after its retries
    DISMISS = "dismiss"  # operator deletes the request
    EXPIRE = "expire"  # confirmation link expired
    EXTEND = "extend"  # deadline extended (status unchanged)
    RESEND = "resend"  # new confirmation link (status unchanged)


# The statuses that still need work (at most one open request per subject and type); the same set backs the
# partial indexes on privacy_requests. The others are closed for good.
OPEN: tuple[Status, ...] = (Status.UNVERIFIED, Status.PENDING, Status.IN_PROGRESS, Status.FAILED)
CLOSED: tuple[Status, ...] = (Status.PROCESSED, Status.DELETED, Status.EXPIRED)


def initial_status(type: str) -> Status:
    """Where a new request starts: a deletion waits for its confirmation link, an access request for an operator."""
    return Status.UNVERIFIED if type == "deletion" else Status.PENDING


_TABLE: dict[tuple[str, Status, Action], Status] = {
    ("access", Status.PENDING, Action.ACCEPT): Status.IN_PROGRESS,
    ("access", Status.FAILED, Action.RETRY): Status.IN_PROGRESS,
    ("access", Status.IN_PROGRESS, Action.COMPLETE): Status.PROCESSED,
    ("access", Status.IN_PROGRESS, Action.FULFIL): Status.PROCESSED,
    ("access", Status.IN_PROGRESS, Action.FAIL): Status.FAILED,
    ("deletion", Status.UNVERIFIED, Action.CONFIRM): Status.IN_PROGRESS,
    ("deletion", Status.UNVERIFIED, Action.EXPIRE): Status.EXPIRED,
    ("deletion", Status.UNVERIFIED, Action.RESEND): Status.UNVERIFIED,
    ("deletion", Status.FAILED, Action.RETRY): Status.IN_PROGRESS,
    ("deletion", Status.IN_PROGRESS, Action.COMPLETE): Status.PROCESSED,
    ("deletion", Status.IN_PROGRESS, Action.FAIL): Status.FAILED,
}
for _type in ("access", "deletion"):
    for _status in OPEN:
        _TABLE[(_type, _status, Action.EXTEND)] = _status
    for _status in (Status.UNVERIFIED, Status.PENDING, Status.FAILED):
        _TABLE[(_type, _status, Action.DISMISS)] = Status.DELETED


def next_status(*, type: str, status: str, action: Action, handling: str | None = None) -> Status:
    """The status after ``action``, or ``InvalidTransition`` naming why not.

    A request in progress may be dismissed only under manual handling: automatic work is already running.
    """
    current = Status(status)
    if action is Action.DISMISS and current is Status.IN_PROGRESS and handling == "manual":
        return Status.DELETED
    target = _TABLE.get((type, current, action))
    if target is None:
        article = "An" if str(type)[:1].lower() in "aeiou" else "A"
        raise InvalidTransition(f"{article} {type} request in status '{current}' cannot be {_past(action)}.")
    return target


def _past(action: Action) -> str:
    return {
        Action.ACCEPT: "accepted",
        Action.RETRY: "accepted again",
        Action.CONFIRM: "confirmed",
        Action.COMPLETE: "completed",
        Action.FULFIL: "fulfilled",
        Action.FAIL: "failed",
        Action.DISMISS: "deleted",
        Action.EXPIRE: "expired",
        Action.EXTEND: "extended",
        Action.RESEND: "sent a new confirmation link",
    }[action]
