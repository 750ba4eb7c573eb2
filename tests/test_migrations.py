"""Migrations: the first one creates everything; downgrade removes it; both on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from app.core.migrations import downgrade, upgrade
from app.models import Base

from .conftest import TEST_DATABASE_URL, sync_pg_url


def _tables(sync_url: str) -> set[str]:
    engine = create_engine(sync_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    assert set(Base.metadata.tables) <= _tables(f"sqlite:///{path}")
    downgrade(url)
    assert _tables(f"sqlite:///{path}") <= {"alembic_version"}
    upgrade(url)
    assert set(Base.metadata.tables) <= _tables(f"sqlite:///{path}")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_postgres_upgrade_downgrade_upgrade(migrated_database: str) -> None:
    # Uses the session's PostgreSQL database and leaves it at head, as the other tests expect.
    if not migrated_database.startswith("postgresql"):
        pytest.skip("this parametrisation is the SQLite one")
    sync_url = sync_pg_url(TEST_DATABASE_URL).replace("postgresql://", "postgresql+psycopg://", 1)
    downgrade(TEST_DATABASE_URL)
    assert not set(Base.metadata.tables) & _tables(sync_url)
    upgrade(TEST_DATABASE_URL)
    assert set(Base.metadata.tables) <= _tables(sync_url)


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """Autogenerate finds nothing to do: the migration matches the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    path = tmp_path / "m.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def _downgrade_with_a_sent_email(async_url: str, sync_url: str) -> None:
    """0002 -> 0001 with an email whose bodies were cleared after sending, and back up again."""
    from sqlalchemy import text

    upgrade(async_url)
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM emails"))
            connection.execute(
                text(
                    "INSERT INTO emails (id, message_id, kind, to_address, locale, subject, status, created_at)"
                    " VALUES (:id, '<m@x>', 'access_acknowledged', 'ada@example.com', 'en', 'S', 'sent', :at)"
                ),
                {"id": "0" * 32, "at": "2030-01-01 00:00:00"},
            )
        downgrade(async_url, "0001")
        with engine.connect() as connection:
            bodies = connection.execute(text("SELECT text_body, html_body FROM emails")).all()
            assert [tuple(row) for row in bodies] == [("", "")]
            assert "redacted_at" not in {
                c["name"] for c in inspect(connection).get_columns("privacy_requests")
            }
        upgrade(async_url)
        with engine.begin() as connection:
            assert "redacted_at" in {c["name"] for c in inspect(connection).get_columns("privacy_requests")}
            connection.execute(text("DELETE FROM emails"))
    finally:
        engine.dispose()


def test_sqlite_downgrade_to_0001_keeps_emails_without_bodies(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    _downgrade_with_a_sent_email(f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}")


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL pointing at PostgreSQL")
def test_postgres_downgrade_to_0001_keeps_emails_without_bodies(migrated_database: str) -> None:
    if not migrated_database.startswith("postgresql"):
        pytest.skip("this parametrisation is the SQLite one")
    sync_url = sync_pg_url(TEST_DATABASE_URL).replace("postgresql://", "postgresql+psycopg://", 1)
    _downgrade_with_a_sent_email(TEST_DATABASE_URL, sync_url)


def test_downgrade_below_0011_warns_of_the_emails_kept_as_a_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before 0011 a pending email needs its bodies: the downgrade says how many will be given up on."""
    from sqlalchemy import text

    path = tmp_path / "m.db"
    async_url, sync_url = f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}"
    upgrade(async_url)
    engine = create_engine(sync_url)
    try:
        with engine.begin() as connection:
            for n, (status, context) in enumerate(
                [("pending", "fernet:..."), ("sent", None), ("pending", None)]
            ):
                connection.execute(
                    text(
                        "INSERT INTO emails (id, message_id, kind, to_address, locale, subject, context, status,"
                        " created_at) VALUES (:id, :mid, 'access_acknowledged', 'ada@example.com', 'en', 'S',"
                        " :context, :status, :at)"
                    ),
                    {
                        "id": f"{n:032d}",
                        "mid": f"<{n}@x>",
                        "context": context,
                        "status": status,
                        "at": "2030-01-01",
                    },
                )
        with caplog.at_level(logging.WARNING, logger="alembic.runtime.migration"):
            downgrade(async_url, "0010")
        assert "1 pending emails are kept as a context only" in caplog.text
        with engine.connect() as connection:
            assert "context" not in {c["name"] for c in inspect(connection).get_columns("emails")}
            assert connection.execute(text("SELECT count(*) FROM emails")).scalar_one() == 3
        upgrade(async_url)
        with engine.connect() as connection:
            assert "context" in {c["name"] for c in inspect(connection).get_columns("emails")}
    finally:
        engine.dispose()
