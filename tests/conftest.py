"""Shared fixtures: a migrated database (SQLite always, PostgreSQL too when TEST_DATABASE_URL is set),
the real app with its lifespan, API keys of each role, and a small CRM source."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.keys import Role, create_key
from app.core import clock
from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.migrations import upgrade
from app.main import create_app
from app.models import Base

from .customer_tokens import public_key_file
from .factories import write_crm

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
SECRET = "test-secret-key-0123456789abcdef"


def sync_pg_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(sync_pg_url(url), autocommit=True) as connection:
        for table in [*Base.metadata.tables, "alembic_version"]:
            connection.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')


def _truncate_postgres(url: str) -> None:
    import psycopg

    tables = ", ".join(f'"{t}"' for t in Base.metadata.tables)
    with psycopg.connect(sync_pg_url(url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at the latest migration: a SQLite template file, or the PostgreSQL test database."""
    if request.param == "postgresql":
        _reset_postgres(TEST_DATABASE_URL)
        upgrade(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    """A clean database for one test."""
    if migrated_database.startswith("postgresql"):
        _truncate_postgres(migrated_database)
        return migrated_database
    path = tmp_path / "privacy.db"
    shutil.copy(migrated_database, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    return write_crm(tmp_path / "crm")


def make_settings(database_url: str, tmp_path: Path, sources_file: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "sources_file": sources_file,
        "mail_dir": tmp_path / "mail",
        "package_dir": tmp_path / "packages",
        "var_dir": tmp_path / "var",
        "privacy_team_email": "privacy-team@brand.test",
        "public_base_url": "http://privacy.brand.test",
        "rate_limit_per_minute": 0,
        "job_retry_base": "PT0.01S",
        "smtp_host": None,
        "customer_token_public_key_file": public_key_file(),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, sources_file: Path) -> Settings:
    return make_settings(database_url, tmp_path, sources_file)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def keys(app: FastAPI) -> dict[str, str]:
    """One key per role, by role name; the key's name is ``<role>-key``."""
    created = {}
    async with unit_of_work(app.state.sessionmaker) as session:
        for role in Role:
            _key, plaintext = await create_key(session, name=f"{role.value}-key", role=role)
            created[role.value] = plaintext
    return created


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
