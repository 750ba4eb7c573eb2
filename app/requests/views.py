"""Turning stored requests into the contract's resource."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.deadlines.due_dates import days_left
from app.models import OPEN_STATUSES, PrivacyRequest, RequestEvent


def resource(request: PrivacyRequest, *, now: datetime, with_customer: bool = True) -> dict[str, Any]:
    """The privacy request resource (contract section 3); ``with_customer=False`` is the app role's view, which
    holds ten fields and nothing about the person (an app key is public: section 7)."""
    if not with_customer:
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


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def resource_json(request: PrivacyRequest, *, now: datetime, with_customer: bool = True) -> dict[str, Any]:
    """``resource`` with JSON-ready values, serialised without a validation pass (the hot paths: list, submit)."""
    body = resource(request, now=now, with_customer=with_customer)
    body["id"] = str(request.id)
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


def detail(request: PrivacyRequest, events: Sequence[RequestEvent], *, now: datetime) -> dict[str, Any]:
    """The operator's detail view: the resource, its timeline (oldest first) and its result."""
    body = resource(request, now=now)
    body["events"] = [{"at": e.at, "action": e.action, "actor": e.actor, "detail": e.detail} for e in events]
    body["result"] = request.result
    return body


def email_context(request: PrivacyRequest) -> dict[str, Any]:
    """The facts about a request that every email template may show."""
    return {
        "id": str(request.id),
        "type": request.type,
        "status": request.status,
        "regulation": request.regulation,
        "email": request.email,
        "customer_name": request.customer_name,
        "received_at": request.received_at,
        "due_at": request.due_at,
        "locale": request.locale,
    }
