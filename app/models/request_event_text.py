import uuid

from sqlalchemy import ForeignKey, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntId
from app.models.request_event import RequestEvent


class RequestEventText(Base):
    """The free text of one timeline event (an operator's reason or note, a data source's message), which
    may name the person. RECORDS_RETENTION clears it; the database allows nothing else: no other update,
    no delete (migration 0003)."""

    __tablename__ = "request_event_texts"

    event_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("request_events.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False
    )
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("privacy_requests.id", ondelete="RESTRICT"), index=True
    )
    text: Mapped[str | None] = mapped_column(Text)

    event: Mapped[RequestEvent] = relationship(lazy="raise")
