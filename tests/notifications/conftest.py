from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import create_engine, create_sessionmaker
from app.models import Base

from .smtp_server import SmtpServer, running_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
async def sessionmaker(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/notifications.db")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
