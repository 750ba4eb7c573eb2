import uuid
from datetime import datetime

from sqlalchemy import String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType


class WebhookSubscription(Base):
    """A receiver of webhook events: where to send which events, and the secret their signatures use."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Text, not String(2000): the URL is stored as parsed, and normalising (an IDN host in punycode, escapes)
    # may lengthen an accepted 2,000-character URL.
    url: Mapped[str] = mapped_column(Text)
    # The event types it receives, e.g. ["request.received", "erasure.completed"].
    events: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(200))
    # The signing secret (``whsec_...``), sealed under SECRET_KEY: shown once, never readable from the table.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Set by DELETE: nothing more is sent to it; its deliveries stay listed.
    deleted_at: Mapped[datetime | None]
