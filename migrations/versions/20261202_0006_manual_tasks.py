"""manual steps: a task per manual source per request

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manual_tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=63), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_manual_tasks_request_id_privacy_requests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_tasks")),
        sa.UniqueConstraint("request_id", "source", name=op.f("uq_manual_tasks_request_id_source")),
    )
    with op.batch_alter_table("manual_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_manual_tasks_status_created_at_id", ["status", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_manual_tasks_status_owner_email_created_at_id",
            ["status", "owner_email", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("manual_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_manual_tasks_status_owner_email_created_at_id")
        batch_op.drop_index("ix_manual_tasks_status_created_at_id")
    op.drop_table("manual_tasks")
