"""timeline append-only: the database refuses UPDATE and DELETE of request_events; free text that may name
the person moves to request_event_texts, where the one change allowed is clearing it (RECORDS_RETENTION)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The actions whose detail was free text (an operator's reason or note, a data source's message).
FREE_TEXT_ACTIONS = "('note', 'fulfilled', 'deleted', 'extended', 'failed', 'download_link_failed')"

POSTGRES_UP = [
    """
    CREATE OR REPLACE FUNCTION request_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the timeline is append-only: % of request_events refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER request_events_append_only BEFORE UPDATE OR DELETE ON request_events
    FOR EACH ROW EXECUTE FUNCTION request_events_append_only()
    """,
    """
    CREATE OR REPLACE FUNCTION request_event_texts_clear_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' OR NEW.text IS NOT NULL OR NEW.event_id <> OLD.event_id
                OR NEW.request_id <> OLD.request_id THEN
            RAISE EXCEPTION 'a timeline text can only be cleared: % of request_event_texts refused', TG_OP
                USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER request_event_texts_clear_only BEFORE UPDATE OR DELETE ON request_event_texts
    FOR EACH ROW EXECUTE FUNCTION request_event_texts_clear_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS request_event_texts_clear_only ON request_event_texts",
    "DROP FUNCTION IF EXISTS request_event_texts_clear_only()",
    "DROP TRIGGER IF EXISTS request_events_append_only ON request_events",
    "DROP FUNCTION IF EXISTS request_events_append_only()",
]
SQLITE_UP = [
    """
    CREATE TRIGGER request_events_no_update BEFORE UPDATE ON request_events
    BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: UPDATE of request_events refused'); END
    """,
    """
    CREATE TRIGGER request_events_no_delete BEFORE DELETE ON request_events
    BEGIN SELECT RAISE(ABORT, 'the timeline is append-only: DELETE of request_events refused'); END
    """,
    """
    CREATE TRIGGER request_event_texts_clear_only BEFORE UPDATE ON request_event_texts
    WHEN NEW.text IS NOT NULL OR NEW.event_id IS NOT OLD.event_id OR NEW.request_id IS NOT OLD.request_id
    BEGIN SELECT RAISE(ABORT, 'a timeline text can only be cleared: UPDATE of request_event_texts refused'); END
    """,
    """
    CREATE TRIGGER request_event_texts_no_delete BEFORE DELETE ON request_event_texts
    BEGIN SELECT RAISE(ABORT, 'a timeline text can only be cleared: DELETE of request_event_texts refused'); END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS request_event_texts_no_delete",
    "DROP TRIGGER IF EXISTS request_event_texts_clear_only",
    "DROP TRIGGER IF EXISTS request_events_no_delete",
    "DROP TRIGGER IF EXISTS request_events_no_update",
]


def upgrade() -> None:
    op.create_table(
        "request_event_texts",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["request_events.id"],
            name=op.f("fk_request_event_texts_event_id_request_events"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_request_event_texts_request_id_privacy_requests"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_request_event_texts")),
    )
    with op.batch_alter_table("request_event_texts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_event_texts_request_id"), ["request_id"], unique=False)
    # Free text already on the timeline moves out of the events before they become unchangeable.
    op.execute(
        "INSERT INTO request_event_texts (event_id, request_id, text) SELECT id, request_id, detail"
        f" FROM request_events WHERE action IN {FREE_TEXT_ACTIONS} AND detail IS NOT NULL"
    )
    op.execute(f"UPDATE request_events SET detail = NULL WHERE action IN {FREE_TEXT_ACTIONS}")
    statements = POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
    # The texts go back into the events' details (cleared ones stay cleared).
    op.execute(
        "UPDATE request_events SET detail = CASE WHEN detail IS NULL THEN t.text"
        " ELSE detail || ': ' || t.text END"
        " FROM (SELECT event_id, text FROM request_event_texts WHERE text IS NOT NULL) AS t"
        " WHERE t.event_id = request_events.id"
    )
    with op.batch_alter_table("request_event_texts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_event_texts_request_id"))
    op.drop_table("request_event_texts")
