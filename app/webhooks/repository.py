"""All SQL about webhooks: subscriptions, the events outbox, deliveries and their attempts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import exists, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.core.db import delete_oldest
from app.models import (
    PrivacyRequest,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEvent,
    WebhookSubscription,
)

PENDING = "pending"


# Subscriptions


def add_subscription(
    session: AsyncSession,
    *,
    url: str,
    events: list[str],
    description: str | None,
    sealed_secret: str,
    now: datetime,
) -> WebhookSubscription:
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        url=url,
        events=events,
        description=description,
        secret=sealed_secret,
        created_at=now,
    )
    session.add(subscription)
    return subscription


async def active_subscriptions(session: AsyncSession) -> Sequence[WebhookSubscription]:
    query = (
        select(WebhookSubscription)
        .where(WebhookSubscription.deleted_at.is_(None))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return (await session.scalars(query)).all()


async def get_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> WebhookSubscription | None:
    return await session.get(WebhookSubscription, subscription_id)


async def mark_subscription_deleted(
    session: AsyncSession, subscription_id: uuid.UUID, *, at: datetime
) -> WebhookSubscription:
    """Set ``deleted_at`` unless it is set already and cancel its pending deliveries; the subscription as it
    now is."""
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id, WebhookSubscription.deleted_at.is_(None))
        .values(deleted_at=at)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.status == PENDING)
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    subscription = await session.get(WebhookSubscription, subscription_id, populate_existing=True)
    assert subscription is not None
    return subscription


# Emission: called from inside a flush (a synchronous Session), in the transaction of the change.


# Built once: every transaction that writes a timeline event asks it.
_LISTENING = select(WebhookSubscription.id, WebhookSubscription.events).where(
    WebhookSubscription.deleted_at.is_(None)
)


def listening(session: Session) -> list[tuple[uuid.UUID, list[str]]]:
    """Every active subscription with the event types it receives (a short table, filtered by the caller)."""
    return [(row.id, list(row.events)) for row in session.execute(_LISTENING)]


def request_for(session: Session, request_id: uuid.UUID) -> PrivacyRequest | None:
    """The request as this transaction sees it: the session's copy (updated by the change), or the row."""
    return session.get(PrivacyRequest, request_id)


def add_event(
    session: Session,
    *,
    type: str,
    request_id: uuid.UUID,
    at: datetime,
    body: str,
    subscription_ids: Iterable[uuid.UUID],
) -> list[WebhookDelivery]:
    """The event in the outbox and one pending delivery per subscription."""
    event = WebhookEvent(id=uuid.uuid4(), type=type, request_id=request_id, created_at=at, body=body)
    session.add(event)
    deliveries = [
        WebhookDelivery(
            id=uuid.uuid4(), event=event, subscription_id=subscription_id, status=PENDING, created_at=at
        )
        for subscription_id in subscription_ids
    ]
    session.add_all(deliveries)
    return deliveries


# Delivery


async def delivery_target(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, WebhookEvent, WebhookSubscription] | None:
    query = (
        select(WebhookDelivery, WebhookEvent, WebhookSubscription)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id == delivery_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1], row[2])


def add_attempt(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    *,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    session.add(
        WebhookDeliveryAttempt(
            delivery_id=delivery_id,
            at=at,
            status_code=status_code,
            error=None if error is None else error[:500],
            duration_ms=duration_ms,
        )
    )


async def finish_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, status: str, at: datetime | None = None
) -> bool:
    """Move a pending delivery to ``status`` (``delivered`` with ``at``, ``failed``, ``cancelled``); False when
    it was no longer pending."""
    values: dict[str, object] = {"status": status}
    if at is not None:
        values["delivered_at"] = at
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Listing


async def deliveries_page(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    """A subscription's deliveries, newest first, from just before ``before`` (a cursor)."""
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(tuple_(WebhookDelivery.created_at, WebhookDelivery.id) < before)
    return [(row[0], row[1]) for row in await session.execute(query)]


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookDeliveryAttempt]]:
    """The attempts of each delivery, oldest first."""
    if not delivery_ids:
        return {}
    query = (
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookDeliveryAttempt.id)
    )
    found: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = defaultdict(list)
    for attempt in await session.scalars(query):
        found[attempt.delivery_id].append(attempt)
    return found


# Retention


async def delete_finished_events_before(session: AsyncSession, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` events raised before ``before`` with no delivery still pending; their deliveries
    and attempts go with them (ON DELETE CASCADE). How many events went."""
    pending = exists().where(WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.status == PENDING)
    return await delete_oldest(
        session, WebhookEvent.id, WebhookEvent.created_at, before=before, limit=limit, where=~pending
    )
