import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.lifecycle import OPEN, Status
from app.models.base import Base, JSONType

# Statuses in which a request still needs work; at most one such request per subject and type.
OPEN_STATUSES = tuple(status.value for status in OPEN)
OPEN_SQL = "status IN (" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"
# Closed statuses and the column holding when each closed: RECORDS_RETENTION runs from there.
CLOSED_AT = {
    Status.PROCESSED.value: "processed_at",
    Status.DELETED.value: "deleted_at",
    Status.EXPIRED.value: "verification_expires_at",
}


def unredacted_sql(status: str) -> str:
    """Literal SQL for the closed, not yet redacted requests of ``status``: the partial indexes' predicate."""
    return f"status = '{status}' AND redacted_at IS NULL"


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    regulation: Mapped[str] = mapped_column(String(8))
    email: Mapped[str | None] = mapped_column(String(320))
    customer_id: Mapped[str | None] = mapped_column(String(200))
    customer_name: Mapped[str | None] = mapped_column(String(400))
    customer_email: Mapped[str | None] = mapped_column(String(320))
    # "c:<customer id>" when the directory knows the customer, else "e:<email>": one open request per subject.
    subject: Mapped[str] = mapped_column(String(600))
    channel: Mapped[str | None] = mapped_column(String(50))
    locale: Mapped[str] = mapped_column(String(5))
    handling: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    extended_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    verification_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verification_expires_at: Mapped[datetime | None]
    # Set once RECORDS_RETENTION has passed since the request closed: email, customer_email and customer_name
    # then hold masked forms, and email_hash the HMAC-SHA256 (SECRET_KEY) of the email, to find it by.
    redacted_at: Mapped[datetime | None]
    email_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # On PostgreSQL the sort indexes carry what the filters test (INCLUDE), so a page's ids are found by an
        # index-only scan however many rows a filter skips (migration 0009).
        Index(
            "ix_privacy_requests_received_at_id", "received_at", "id", postgresql_include=["due_at", "status"]
        ),
        Index("ix_privacy_requests_due_at_id", "due_at", "id"),
        Index("ix_privacy_requests_status_received_at_id", "status", "received_at", "id"),
        Index("ix_privacy_requests_status_due_at_id", "status", "due_at", "id"),
        Index("ix_privacy_requests_type_received_at_id", "type", "received_at", "id"),
        # varchar_pattern_ops: the same index answers an email and the search's email prefix (LIKE 'ada%').
        Index(
            "ix_privacy_requests_email_received_at",
            "email",
            "received_at",
            postgresql_ops={"email": "varchar_pattern_ops"},
        ),
        Index("ix_privacy_requests_customer_id_received_at", "customer_id", "received_at"),
        Index(
            "uq_privacy_requests_open_subject_type",
            "subject",
            "type",
            unique=True,
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        # Open requests by due date and by receipt: the overdue filter, the sweep, the cockpit's work queue.
        Index(
            "ix_privacy_requests_open_due_at_id",
            "due_at",
            "id",
            postgresql_include=["received_at"],
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        Index(
            "ix_privacy_requests_open_received_at_id",
            "received_at",
            "id",
            postgresql_include=["due_at"],
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        Index(
            "ix_privacy_requests_verification_expires_at",
            "verification_expires_at",
            postgresql_where=text(f"status = '{Status.UNVERIFIED}'"),
            sqlite_where=text(f"status = '{Status.UNVERIFIED}'"),
        ),
        Index("ix_privacy_requests_email_hash", "email_hash"),
        # Closed requests not yet redacted, by the time they closed: the sweep's RECORDS_RETENTION step.
        *(
            Index(
                f"ix_privacy_requests_unredacted_{status}",
                column,
                postgresql_where=text(unredacted_sql(status)),
                sqlite_where=text(unredacted_sql(status)),
            )
            for status, column in CLOSED_AT.items()
        ),
    )
