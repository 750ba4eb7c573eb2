"""The submit benchmark's baseline: a bare FastAPI app on the service's stack (uvicorn, SQLAlchemy async,
asyncpg, the same engine settings) whose POST /v1/privacy-requests only validates the body and inserts one row.

    DATABASE_URL=postgresql+asyncpg://... .venv/bin/python bench/baseline_app.py --port 8124
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Literal

import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, insert

from app.core.db import create_engine, create_sessionmaker, unit_of_work

metadata = MetaData()
rows = Table(
    "bench_baseline_requests",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("email", String(320)),
    Column("channel", String(50)),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


class Submit(BaseModel):
    type: Literal["access", "deletion"]
    email: str | None = None
    channel: str | None = None


class Created(BaseModel):
    id: uuid.UUID
    type: str
    email: str | None
    channel: str | None
    received_at: datetime


def create_baseline_app(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        app.state.sessionmaker = create_sessionmaker(engine)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/privacy-requests", status_code=201, response_model=Created)
    async def submit(body: Submit, request: Request) -> Created:
        created = Created(
            id=uuid.uuid4(),
            type=body.type,
            email=body.email,
            channel=body.channel,
            received_at=datetime.now(UTC),
        )
        async with unit_of_work(request.app.state.sessionmaker) as session:
            await session.execute(insert(rows).values(**created.model_dump()))
        return created

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_baseline_app(os.environ["DATABASE_URL"])
    # The same uvicorn settings as `python -m app serve`.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", proxy_headers=False)


if __name__ == "__main__":
    main()
