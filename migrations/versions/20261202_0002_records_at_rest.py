"""records at rest: email bodies nullable (cleared once sent), redaction columns, retention indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED_EMAILS = sa.text("status IN ('sent', 'failed')")
FINISHED_JOBS = sa.text("status IN ('done', 'dead')")
CLOSED_AT = {"processed": "processed_at", "deleted": "deleted_at", "expired": "verification_expires_at"}


def _unredacted(status: str) -> sa.TextClause:
    return sa.text(f"status = '{status}' AND redacted_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.alter_column("text_body", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("html_body", existing_type=sa.Text(), nullable=True)
        batch_op.create_index(
            "ix_emails_finished_created_at",
            ["created_at"],
            unique=False,
            postgresql_where=FINISHED_EMAILS,
            sqlite_where=FINISHED_EMAILS,
        )
    # Emails already sent or given up on keep no body: their links worked, and would still.
    op.execute("UPDATE emails SET text_body = NULL, html_body = NULL WHERE status IN ('sent', 'failed')")

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_created_at", ["created_at"], unique=False)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_finished_at",
            ["finished_at"],
            unique=False,
            postgresql_where=FINISHED_JOBS,
            sqlite_where=FINISHED_JOBS,
        )

    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_privacy_requests_email_hash", ["email_hash"], unique=False)
        for status, column in CLOSED_AT.items():
            batch_op.create_index(
                f"ix_privacy_requests_unredacted_{status}",
                [column],
                unique=False,
                postgresql_where=_unredacted(status),
                sqlite_where=_unredacted(status),
            )


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests", schema=None) as batch_op:
        for status in CLOSED_AT:
            batch_op.drop_index(
                f"ix_privacy_requests_unredacted_{status}",
                postgresql_where=_unredacted(status),
                sqlite_where=_unredacted(status),
            )
        batch_op.drop_index("ix_privacy_requests_email_hash")
        # Redacted requests keep their masked fields; only the lookup hash and the mark go.
        batch_op.drop_column("email_hash")
        batch_op.drop_column("redacted_at")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_finished_at", postgresql_where=FINISHED_JOBS, sqlite_where=FINISHED_JOBS)

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created_at")

    # The old schema wants a body on every row: cleared ones become empty; sealed pending ones stay sealed
    # (the old worker would send them as they are, so send them before downgrading).
    op.execute("UPDATE emails SET text_body = '' WHERE text_body IS NULL")
    op.execute("UPDATE emails SET html_body = '' WHERE html_body IS NULL")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_emails_finished_created_at", postgresql_where=FINISHED_EMAILS, sqlite_where=FINISHED_EMAILS
        )
        batch_op.alter_column("html_body", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("text_body", existing_type=sa.Text(), nullable=False)
