"""wake workers only for jobs they can claim

On PostgreSQL the jobs table's trigger notified every listening worker on any insert, also of a job born leased
to the worker that queued it (the email a finished package sends, run by that worker as it commits): each such
insert woke every idle worker for an empty claim. Now only a queued job notifies (a row trigger with a WHEN
clause; notifications within one transaction are still delivered once, on commit).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _trigger(when: str) -> None:
    """The jobs table's NOTIFY trigger, replaced by one firing ``when`` (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS jobs_notify ON jobs")
    op.execute(
        f"CREATE TRIGGER jobs_notify AFTER INSERT ON jobs {when} EXECUTE FUNCTION privacy_jobs_notify()"
    )


def upgrade() -> None:
    _trigger("FOR EACH ROW WHEN (NEW.status = 'queued')")


def downgrade() -> None:
    _trigger("FOR EACH STATEMENT")
