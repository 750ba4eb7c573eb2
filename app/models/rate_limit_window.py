from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ratelimit import ADDRESS_LENGTH
from app.models.base import Base


class RateLimitWindow(Base):
    """One client address's current rate-limit window in one scope, shared by every replica (PostgreSQL).

    On SQLite the service runs in one process and counts in memory; the table stays empty there.
    """

    __tablename__ = "rate_limit_windows"

    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    started_at: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        # The sweep deletes windows that ended, oldest first.
        Index("ix_rate_limit_windows_started_at", "started_at"),
    )
