import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId


class RequestEvent(Base):
    """One line of a request's append-only timeline. On PostgreSQL and SQLite the database refuses to update
    or delete a row (migration 0003); ``detail`` never holds free text that may name the person."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("privacy_requests.id", ondelete="RESTRICT")
    )
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_request_events_request_id_id", "request_id", "id"),)
