import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

# Emails the worker is done with, as literal SQL: the partial index below and the queries that must use it
# (a bound parameter would keep the planners from matching the index's predicate).
FINISHED_EMAILS_SQL = "status IN ('sent', 'failed')"


class Email(Base):
    """The outbox: one email (its subject, and what its bodies are rendered from), written with the change that
    causes it, rendered and sent by the worker."""

    __tablename__ = "emails"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stable across retries, so a server that saw the first attempt can recognise a repeat.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(50))
    to_address: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(5))
    subject: Mapped[str] = mapped_column(String(400))
    # Sealed while pending (app.notifications.sealing), cleared once sent or failed: no working link at rest.
    # What the worker renders the bodies from when it sends the email (app.notifications.stored_context).
    context: Mapped[str | None] = mapped_column(Text)
    # The rendered bodies, as an email queued before migration 0011 holds them instead of a context.
    text_body: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # pending -> sent | failed
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_emails_request_id", "request_id"),
        # The sweep's JOB_RETENTION pruning: finished emails, oldest first.
        Index(
            "ix_emails_finished_created_at",
            "created_at",
            postgresql_where=text(FINISHED_EMAILS_SQL),
            sqlite_where=text(FINISHED_EMAILS_SQL),
        ),
    )
