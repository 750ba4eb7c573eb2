"""Webhook subscriptions and their deliveries, as the admin endpoints offer them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock, cursors
from app.core.context import ServiceContext
from app.core.errors import NotFound
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
    position = cursors.decode(cursor) if cursor is not None else None
    before = (position.key, position.id) if position is not None else None
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
    next_cursor = (
        cursors.encode(cursors.Position(key=last.created_at, id=last.id)) if last is not None else None
    )
    return {"items": items, "next_cursor": next_cursor}
