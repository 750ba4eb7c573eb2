import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class WebhookEvent(Base):
    """One webhook message, written to this outbox in the transaction of the change it reports."""

    __tablename__ = "webhook_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("privacy_requests.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime]
    # The JSON body exactly as sent (and signed) on every attempt.
    body: Mapped[str] = mapped_column(Text)
