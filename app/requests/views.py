"""Turning stored requests into the contract's resource."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.deadlines.due_dates import days_left
from app.models import OPEN_STATUSES, PrivacyRequest, RequestEvent


def resource(request: PrivacyRequest, *, now: datetime, with_customer: bool = True) -> dict[str, Any]:
    """The privacy request resource (contract section 3); the app role's view has no ``customer``."""
    body: dict[str, Any] = {
        "id": request.id,
        "type": request.type,
        "status": request.status,
        "regulation": request.regulation,
        "email": request.email,
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
    if with_customer:
        body["customer"] = (
            {"id": request.customer_id, "email": request.customer_email, "name": request.customer_name}
            if request.customer_id is not None
            else None
        )
    return body


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
        body[key] = _time(body[key])
    return body


def detail(
    request: PrivacyRequest, events: Sequence[RequestEvent], *, now: datetime, with_customer: bool = True
) -> dict[str, Any]:
    body = resource(request, now=now, with_customer=with_customer)
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
