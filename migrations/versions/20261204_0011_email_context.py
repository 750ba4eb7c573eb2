"""emails rendered when sent: the outbox keeps the email's context, sealed

A request that queues an email no longer renders its bodies (about a fifth of a submit's CPU): the row keeps the
template context, sealed like the bodies were, and the worker renders the email as it sends it. Emails queued
before keep their rendered bodies and are sent as they are.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.add_column(sa.Column("context", sa.Text(), nullable=True))


def downgrade() -> None:
    # Before 0011 a pending email needs its bodies: one kept as a context only is given up on by the older
    # worker when it comes to send it (its team is alerted, as for any email not delivered). Said here, so that
    # whoever downgrades knows; a downgrade in an emergency is not held back by an outbox that cannot drain.
    waiting = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM emails WHERE status = 'pending' AND context IS NOT NULL"))
        .scalar_one()
    )
    if waiting:
        logging.getLogger("alembic.runtime.migration").warning(
            "%d pending emails are kept as a context only: below 0011 they cannot be rendered and will be given "
            "up on when sent (send them first to avoid it)",
            waiting,
        )
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("context")
