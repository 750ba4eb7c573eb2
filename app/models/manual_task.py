import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class ManualTask(Base):
    """One manual source's part of one request (contract section 10): its owner does it by hand and marks it
    done; the request stays ``in_progress`` until every task of it is done."""

    __tablename__ = "manual_tasks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("privacy_requests.id", ondelete="RESTRICT")
    )
    # The manual source's name in SOURCES_FILE, and its owner as the task was created.
    source: Mapped[str] = mapped_column(String(63))
    owner_email: Mapped[str] = mapped_column(String(320))
    # open -> done (marked by a person) | cancelled (the request was dismissed)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("request_id", "source"),
        # Listing by status (the open ones), oldest first, keyset paged; and the same per owner.
        Index("ix_manual_tasks_status_created_at_id", "status", "created_at", "id"),
        Index(
            "ix_manual_tasks_status_owner_email_created_at_id", "status", "owner_email", "created_at", "id"
        ),
    )
