"""Shared fixtures: a migrated database (SQLite always, PostgreSQL too when TEST_DATABASE_URL is set),
the real app with its lifespan, API keys of each role, a small CRM source, and the real parts at the edges:
an SMTP server and a remote HTTP data source, both on 127.0.0.1.

A folder or module changes the settings by overriding ``settings_overrides`` (and the sources by overriding
``sources_file``); ``settings``, ``app`` and ``client`` follow."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
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
from .notifications.smtp_server import SmtpServer, running_smtp_server
from .sources.http_source import HttpSourceServer, running_http_source

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
SECRET = "test-secret-key-0123456789abcdef"
TEAM = "privacy-team@brand.test"  # PRIVACY_TEAM_EMAIL: where the team's alerts go


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
        "privacy_team_email": TEAM,
        "public_base_url": "http://privacy.brand.test",
        "rate_limit_per_minute": 0,
        "job_retry_base": "PT0.01S",
        "smtp_host": None,
        "customer_token_public_key_file": public_key_file(),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """What a folder or module sets differently from ``make_settings``' defaults: override this fixture."""
    return {}


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, sources_file: Path, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(database_url, tmp_path, sources_file, **settings_overrides)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan (database, sources, an idle worker: ``app.state.worker.run_until_idle()``
    runs it)."""
    application = create_app(settings, run_worker=False)
    async with application.router.lifespan_context(application):
        yield application


def client_of(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """An HTTP client calling ``app`` in process, as a client at ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def role_keys(app: FastAPI) -> dict[str, str]:
    """One new API key per role, by role name; the key's name is ``<role>-key``."""
    created = {}
    async with unit_of_work(app.state.sessionmaker) as session:
        for role in Role:
            _key, plaintext = await create_key(session, name=f"{role.value}-key", role=role)
            created[role.value] = plaintext
    return created


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as http:
        yield http


@pytest.fixture
async def keys(app: FastAPI) -> dict[str, str]:
    return await role_keys(app)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server in the test process; ``smtp_settings(smtp_server.port)`` sends the service's mail there."""
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def remote() -> Iterator[HttpSourceServer]:
    """The remote system a sources file may name (``remote.url``): a real HTTP data source, holding nothing yet.
    A folder that needs its data or its secret header overrides this fixture, asking for this one."""
    with running_http_source() as server:
        yield server


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
