"""Webhook subscriptions and their deliveries, as the admin endpoints offer them."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.context import ServiceContext
from app.core.errors import NotFound, ValidationFailed
from app.models import WebhookSubscription
from app.webhooks import repository, signing


async def create(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    url: str,
    events: list[str],
    description: str | None,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret, which is returned this once and stored sealed."""
    secret = signing.new_secret()
    subscription = repository.add_subscription(
        session,
        url=url,
        events=events,
        description=description,
        sealed_secret=signing.seal(secret, secret_key=ctx.secret_key),
        now=clock.now(),
    )
    await session.flush()
    return subscription, secret


async def list_active(session: AsyncSession) -> list[WebhookSubscription]:
    return list(await repository.active_subscriptions(session))


async def get_or_404(session: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription:
    subscription = await repository.get_subscription(session, subscription_id)
    if subscription is None:
        raise NotFound("No webhook has this id.")
    return subscription


async def delete(session: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription:
    """Stop sending to a subscription (its pending deliveries are cancelled); deleting twice changes nothing.
    Its deliveries stay listed."""
    await get_or_404(session, subscription_id)
    return await repository.mark_subscription_deleted(session, subscription_id, at=clock.now())


async def deliveries(
    session: AsyncSession, subscription_id: uuid.UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """A subscription's deliveries, newest first, each with its attempts (oldest first)."""
    await get_or_404(session, subscription_id)
    before = _decode_cursor(cursor) if cursor is not None else None
    rows = await repository.deliveries_page(session, subscription_id, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = await repository.attempts_of(session, [delivery.id for delivery, _event in rows])
    items = [
        {
            "id": delivery.id,
            "webhook_id": signing.message_id(event.id),
            "event_type": event.type,
            "request_id": event.request_id,
            "status": delivery.status,
            "created_at": delivery.created_at,
            "delivered_at": delivery.delivered_at,
            "attempts": [
                {
                    "at": attempt.at,
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "duration_ms": attempt.duration_ms,
                }
                for attempt in attempts.get(delivery.id, [])
            ],
        }
        for delivery, event in rows
    ]
    last = rows[-1][0] if more and rows else None
    next_cursor = _encode_cursor(last.created_at, last.id) if last is not None else None
    return {"items": items, "next_cursor": next_cursor}


def _encode_cursor(at: datetime, delivery_id: uuid.UUID) -> str:
    raw = json.dumps({"k": at.isoformat(), "i": str(delivery_id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        at = datetime.fromisoformat(raw["k"])
        if at.tzinfo is None:
            raise ValueError("naive")
        return clock.as_utc(at), uuid.UUID(raw["i"])
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor: not a cursor this list gave out",
            fields=[{"field": "cursor", "detail": "not a cursor this list gave out"}],
        ) from None
