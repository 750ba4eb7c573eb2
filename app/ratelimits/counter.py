"""The PostgreSQL ``HitCounter``: every replica counts in one table, so a limit holds across replicas."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import clock
from app.core.ratelimit import WINDOW, Count
from app.ratelimits import repository


class DatabaseCounter:
    """Counts each hit with one statement on its own autocommitted connection: one round trip, and the count
    stands whatever becomes of the request's own transaction (a refused or failed call still counts)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def hit(self, scope: str, address: str) -> Count:
        now = clock.now()
        async with self._engine.connect() as connection:
            hits, started_at = await repository.count_hit(
                connection, scope=scope, address=address, now=now, window=WINDOW
            )
        return Count(hits, (started_at + WINDOW - now).total_seconds())
