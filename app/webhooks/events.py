"""The webhook event types, which timeline actions raise them, and the body each carries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, get_args

from app.core import clock
from app.models import PrivacyRequest

EventType = Literal[
    "request.received",
    "request.verified",
    "request.accepted",
    "request.processed",
    "request.failed",
    "request.deleted",
    "request.extended",
    "erasure.completed",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

# Timeline action (app.audit) -> the webhook events it raises. A processed deletion is also the completed
# erasure; retrying a failed request is accepting it again; an operator's fulfilment processes the request.
BY_ACTION: dict[str, tuple[str, ...]] = {
    "received": ("request.received",),
    "confirmed": ("request.verified",),
    "accepted": ("request.accepted",),
    "retried": ("request.accepted",),
    "processed": ("request.processed",),
    "fulfilled": ("request.processed",),
    "erased": ("request.processed", "erasure.completed"),
    "failed": ("request.failed",),
    "deleted": ("request.deleted",),
    "extended": ("request.extended",),
}


def _rfc3339(at: datetime) -> str:
    return clock.as_utc(at).isoformat().replace("+00:00", "Z")


def body(event_type: str, request: PrivacyRequest, *, at: datetime, status: str | None = None) -> str:
    """The Standard Webhooks body: the request as it is after the change (``status``: where the change left
    it, when the request moved on in the same transaction), without anything naming the person (no email,
    name or customer id): a receiver reads those with an operator key if it needs them."""
    data: dict[str, Any] = {
        "id": str(request.id),
        "type": request.type,
        "status": status or request.status,
        "regulation": request.regulation,
        "received_at": _rfc3339(request.received_at),
        "due_at": _rfc3339(request.due_at),
    }
    return json.dumps({"type": event_type, "timestamp": _rfc3339(at), "data": data}, separators=(",", ":"))
