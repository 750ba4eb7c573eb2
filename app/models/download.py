import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Download(Base):
    """A built data package waiting behind an expiring link."""

    __tablename__ = "downloads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    purged_at: Mapped[datetime | None]
    download_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_downloads_request_id", "request_id"),
        Index("ix_downloads_expires_at", "expires_at"),
    )
