import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType


class RecipientNotice(Base):
    """One recipient told about one request's erasure (GDPR Art. 19): at most one per (request, recipient),
    so a completion that runs again tells no one twice."""

    __tablename__ = "recipient_notices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("privacy_requests.id", ondelete="RESTRICT")
    )
    # The recipient's name in SOURCES_FILE, how it was told, and which of its entities the erasure touched.
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    entities: Mapped[list[Any]] = mapped_column(JSONType)
    # webhook: pending -> delivered | failed; email: emailed (the outbox row tells the rest) -> failed
    status: Mapped[str] = mapped_column(String(16))
    # The webhook body, sealed while it waits (it names the customer), cleared once delivered or given up.
    body: Mapped[str | None] = mapped_column(Text)
    # The outbox email of an email recipient.
    email_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("request_id", "recipient"),
        Index("ix_recipient_notices_email_id", "email_id"),
    )
