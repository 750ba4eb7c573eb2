"""``read_only`` reads outside a transaction; the connection it used goes back to the pool as it came: the next
unit of work on it is one transaction again (a change that fails leaves nothing), and no lock is left held."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.core.db import create_engine, create_sessionmaker, read_only, unit_of_work
from app.models import ApiKey


def _key(name: str) -> ApiKey:
    return ApiKey(
        id=uuid.uuid4(),
        name=name,
        role="app",
        key_hash=name.ljust(64, "x"),
        prefix="prk_" + name[:4],
        created_at=datetime.now(UTC),
        revoked_at=None,
    )


class ChangeFailed(Exception):
    pass


async def _count(sessionmaker: object) -> int:
    async with read_only(sessionmaker) as reader:  # type: ignore[arg-type]
        return int(await reader.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def test_after_a_read_only_session_a_failed_change_leaves_nothing(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)  # one connection: the unit of work gets the reader's
    sessionmaker = create_sessionmaker(engine)
    try:
        assert await _count(sessionmaker) == 0

        async def write_then_fail() -> None:
            async with unit_of_work(sessionmaker) as session:
                session.add(_key("half"))
                await session.flush()  # written in the transaction...
                raise ChangeFailed("the change fails after it was written")

        with pytest.raises(ChangeFailed):
            await write_then_fail()
        assert await _count(sessionmaker) == 0  # ...and gone with it
        async with unit_of_work(sessionmaker) as session:  # no lock left behind: a change goes through
            session.add(_key("whole"))
        # A second engine (another process, in effect) sees it and can write too.
        other = create_engine(database_url, pool_size=1)
        try:
            other_sessions = create_sessionmaker(other)
            assert await _count(other_sessions) == 1
            async with unit_of_work(other_sessions) as session:
                session.add(_key("other"))
            assert await _count(sessionmaker) == 2
        finally:
            await other.dispose()
    finally:
        await engine.dispose()
