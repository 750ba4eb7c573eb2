import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base
from app.models.webhook_event import WebhookEvent


class WebhookDelivery(Base):
    """One event for one subscription: pending until a 2xx answer (delivered) or the last retry (failed)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("webhook_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # pending -> delivered | failed | cancelled (its subscription was deleted first)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    # Written in one flush with its event: the relationship tells the unit of work to insert the event first.
    event: Mapped[WebhookEvent] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_webhook_deliveries_subscription_id_created_at_id", "subscription_id", "created_at", "id"),
    )
