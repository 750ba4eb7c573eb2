"""The shapes of one request in answers: the app's view, the operator's view, the detail view with the
timeline, and the facts an email may show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.audit.repository import Entry
from app.deadlines.due_dates import days_left
from app.models import OPEN_STATUSES, PrivacyRequest


def app_view(request: PrivacyRequest, *, now: datetime) -> dict[str, Any]:
    """The request as the app role sees it: ten fields and nothing about the person (an app key is public)."""
    return {
        "id": request.id,
        "type": request.type,
        "status": request.status,
        "regulation": request.regulation,
        "locale": request.locale,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "verified_at": request.verified_at,
        "days_left": days_left(request.due_at, now),
        "overdue": request.status in OPEN_STATUSES and now > request.due_at,
    }


def operator_view(request: PrivacyRequest, *, now: datetime) -> dict[str, Any]:
    """The privacy request resource (contract section 3) as operators see it."""
    return {
        "id": request.id,
        "type": request.type,
        "status": request.status,
        "regulation": request.regulation,
        "email": request.email,
        "customer": (
            {"id": request.customer_id, "email": request.customer_email, "name": request.customer_name}
            if request.customer_id is not None
            else None
        ),
        "channel": request.channel,
        "locale": request.locale,
        "handling": request.handling,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "verified_at": request.verified_at,
        "accepted_at": request.accepted_at,
        "processed_at": request.processed_at,
        "deleted_at": request.deleted_at,
        "extended_at": request.extended_at,
        "days_left": days_left(request.due_at, now),
        "overdue": request.status in OPEN_STATUSES and now > request.due_at,
    }


def view(request: PrivacyRequest, *, now: datetime, operator: bool) -> dict[str, Any]:
    return operator_view(request, now=now) if operator else app_view(request, now=now)


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def json_ready(body: dict[str, Any]) -> dict[str, Any]:
    """A view with JSON-ready values, serialised without a validation pass (the hot paths: list, submit)."""
    body["id"] = str(body["id"])
    for key in (
        "received_at",
        "due_at",
        "verified_at",
        "accepted_at",
        "processed_at",
        "deleted_at",
        "extended_at",
    ):
        if key in body:
            body[key] = _time(body[key])
    return body


def detail_view(request: PrivacyRequest, events: Sequence[Entry], *, now: datetime) -> dict[str, Any]:
    """The operator's detail view: the resource, its timeline (oldest first) and its result."""
    body = operator_view(request, now=now)
    body["events"] = [{"at": e.at, "action": e.action, "actor": e.actor, "detail": e.detail} for e in events]
    body["result"] = request.result
    return body
