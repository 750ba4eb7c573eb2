"""The shop of issue 11: a PostgreSQL source whose customers have integer ids. An access request is answered
and a deletion erased through the API and the worker; a key column that can never match fails the request at
once (one attempt, not six over a minute), naming the source, the table and the column."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, select, text

from app.core.config import Settings
from app.models import Job

from ..helpers import detail, submit
from .world import accept, confirmed_deletion, emails_to, link_in, work


@pytest.fixture
def customer_id_type() -> str:
    return "integer"


@pytest.fixture
def shop(customer_id_type: str) -> Iterator[tuple[str, str]]:
    """(sync URL, schema): customers 1 (Ada) and 2 (Grace) with integer ids, their orders."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")
    sync_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)
    schema = f"intshop_{uuid.uuid4().hex[:10]}"
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            text(
                f"""
                CREATE TABLE "{schema}".customers (id integer PRIMARY KEY, email text, name text);
                CREATE TABLE "{schema}".orders (id integer PRIMARY KEY, customer_id {customer_id_type},
                    total numeric(10, 2));
                INSERT INTO "{schema}".customers VALUES (1, 'ada@example.com', 'Ada Lovelace'),
                    (2, 'grace@example.com', 'Grace Hopper');
                """
            )
        )
        if customer_id_type == "integer":
            conn.execute(
                text(f'INSERT INTO "{schema}".orders VALUES (10, 1, 19.90), (11, 1, 5.00), (20, 2, 7.50)')
            )
    try:
        yield sync_url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def sources_file(tmp_path: Path, shop: tuple[str, str]) -> Path:
    url, schema = shop
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - name: shop\n"
        "    type: sql\n"
        f"    url: {url}\n"
        f"    schema: {schema}\n"
        "    directory: {table: customers, id: id, email: email, name: [name]}\n"
        "    entities:\n"
        "      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n"
        "      - {name: orders, table: orders, match: {customer_id: customer_id}, erase: delete}\n",
        encoding="utf-8",
    )
    return path


async def test_access_and_deletion_of_a_customer_with_an_integer_id(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings, shop: tuple[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    assert (await detail(client, keys["operator"], request["id"]))["customer"]["id"] == "1"
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")
    archive = zipfile.ZipFile(io.BytesIO((await client.get(link)).content))
    data = json.loads(archive.read("data.json"))
    assert data["sources"]["shop"]["customers"] == [
        {"id": 1, "email": "ada@example.com", "name": "Ada Lovelace"}
    ]
    assert [order["id"] for order in data["sources"]["shop"]["orders"]] == [10, 11]

    deletion = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    await work(app)
    view = await detail(client, keys["operator"], deletion)
    assert view["status"] == "processed"
    assert {name: part["count"] for name, part in view["result"]["sources"]["shop"].items()} == {
        "customers": 1,
        "orders": 2,
    }
    url, schema = shop
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            left = (
                conn.execute(text(f'SELECT customer_id FROM "{schema}".orders ORDER BY id')).scalars().all()
            )
    finally:
        engine.dispose()
    assert left == [2]


@pytest.mark.parametrize("customer_id_type", ["date"])
async def test_a_key_column_that_cannot_match_fails_the_request_at_once(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, shop: tuple[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "failed"
    _url, schema = shop
    [reason] = view["result"]["reasons"]
    assert reason.endswith(
        f"source 'shop': table {schema}.orders, column customer_id is DATE: "
        "a customer id can only be matched on an integer, text or UUID column"
    )
    async with app.state.sessionmaker() as session:
        job = (await session.scalars(select(Job).where(Job.kind == "access_package"))).one()
    assert (job.status, job.attempts) == ("dead", 1)
