import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntId, JSONType

# Jobs no worker will touch again, as literal SQL: the partial index below and the pruning query share it.
FINISHED_JOBS_SQL = "status IN ('done', 'dead')"


class Job(Base):
    """A unit of background work, written in the transaction of the change that causes it."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # queued -> running -> done | dead; a running job whose lease passed is claimable again.
    status: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_jobs_claimable",
            "run_at",
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
        Index("ix_jobs_request_id", "request_id"),
        # The sweep's JOB_RETENTION pruning: finished jobs, oldest first.
        Index(
            "ix_jobs_finished_at",
            "finished_at",
            postgresql_where=text(FINISHED_JOBS_SQL),
            sqlite_where=text(FINISHED_JOBS_SQL),
        ),
    )
