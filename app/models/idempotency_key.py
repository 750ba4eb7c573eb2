import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, JSONType


class IdempotencyKey(Base):
    """The first answer to a submit with an ``Idempotency-Key``, replayed to repeats."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("api_key_id", "key"),
        # The sweep deletes keys older than JOB_RETENTION.
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
