"""the cockpit: what the list and bulk actions need

On PostgreSQL the list's sort indexes on receipt carry ``due_at`` and ``status`` (INCLUDE), so a page of
``due_before`` sorted by receipt finds its ids by an index-only scan instead of reading every newer row; the
open requests' due-date index carries ``received_at``, so ``overdue=true`` sorted by receipt collects the
overdue ones from it without reading the table; the email index uses ``varchar_pattern_ops`` so the search's email prefix (``LIKE 'ada%'``)
is an index range under any collation. SQLite keeps the indexes as they are (it has no INCLUDE or operator
classes).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_SQL = "status IN ('unverified', 'pending', 'in_progress', 'failed')"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.drop_index("ix_privacy_requests_received_at_id", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_received_at_id",
        "privacy_requests",
        ["received_at", "id"],
        postgresql_include=["due_at", "status"],
    )
    op.drop_index("ix_privacy_requests_open_received_at_id", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_open_received_at_id",
        "privacy_requests",
        ["received_at", "id"],
        postgresql_include=["due_at"],
        postgresql_where=sa.text(OPEN_SQL),
    )
    op.drop_index("ix_privacy_requests_open_due_at_id", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_open_due_at_id",
        "privacy_requests",
        ["due_at", "id"],
        postgresql_include=["received_at"],
        postgresql_where=sa.text(OPEN_SQL),
    )
    op.drop_index("ix_privacy_requests_email_received_at", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_email_received_at",
        "privacy_requests",
        ["email", "received_at"],
        postgresql_ops={"email": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    if not _postgresql():
        return
    op.drop_index("ix_privacy_requests_email_received_at", table_name="privacy_requests")
    op.create_index("ix_privacy_requests_email_received_at", "privacy_requests", ["email", "received_at"])
    op.drop_index("ix_privacy_requests_open_due_at_id", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_open_due_at_id",
        "privacy_requests",
        ["due_at", "id"],
        postgresql_where=sa.text(OPEN_SQL),
    )
    op.drop_index("ix_privacy_requests_open_received_at_id", table_name="privacy_requests")
    op.create_index(
        "ix_privacy_requests_open_received_at_id",
        "privacy_requests",
        ["received_at", "id"],
        postgresql_where=sa.text(OPEN_SQL),
    )
    op.drop_index("ix_privacy_requests_received_at_id", table_name="privacy_requests")
    op.create_index("ix_privacy_requests_received_at_id", "privacy_requests", ["received_at", "id"])
