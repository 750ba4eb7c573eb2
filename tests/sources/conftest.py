from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.sources import DataSources

from .factories import SECRET, build_shop, shop_yaml, write_sources
from .http_source import HttpSourceServer

LOYALTY_TOKEN = "Bearer loyalty-secret-token"


@pytest.fixture
def remote(remote: HttpSourceServer) -> HttpSourceServer:
    """The loyalty system (tests/conftest.py's ``remote``), asking for its secret header."""
    remote.required_headers = {"authorization": LOYALTY_TOKEN}
    return remote


@pytest.fixture
def shop_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/shop.db"
    build_shop(url)
    return url


@pytest.fixture
async def shop(tmp_path: Path, shop_url: str, remote: HttpSourceServer) -> AsyncIterator[DataSources]:
    """The SQLite shop plus the remote loyalty source."""
    path = write_sources(tmp_path, shop_yaml(shop_url, http_url=remote.url))
    sources = DataSources.from_file(path, secret_key=SECRET, env={"LOYALTY_AUTH": LOYALTY_TOKEN})
    try:
        yield sources
    finally:
        await sources.aclose()


@pytest.fixture
def pg_shop() -> Iterator[tuple[str, str]]:
    """The shop in a dedicated PostgreSQL schema: (sync URL, schema), dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url or not url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")
    sync_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://")
    schema = f"src_{uuid.uuid4().hex[:10]}"
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        build_shop(sync_url, schema=schema)
        yield sync_url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
