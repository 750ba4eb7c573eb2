"""A PostgreSQL data source (sync psycopg, its own schema) next to the SQLite CRM and the HTTP source:
access collects from it and a deletion erases in it, through the API and the worker."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from app.core.config import Settings

from ..customer_tokens import signed_in
from ..helpers import HASHED, detail, submit
from ..sources.http_source import HttpSourceServer
from .world import accept, confirmed_deletion, emails_to, link_in, work, write_world


@pytest.fixture
def billing() -> Iterator[tuple[str, str]]:
    """(sync URL, schema): invoices (anonymised), payments (kept), marketing (deleted) in PostgreSQL."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")
    sync_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)
    schema = f"billing_{uuid.uuid4().hex[:10]}"
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(
            text(
                f"""
                CREATE TABLE "{schema}".invoices (id integer PRIMARY KEY, customer_id text, email text,
                    billing_name text, iban text, amount numeric(10, 2), issued_at timestamptz);
                CREATE TABLE "{schema}".payments (id integer PRIMARY KEY, invoice_id integer, paid_at date);
                CREATE TABLE "{schema}".marketing (id integer PRIMARY KEY, email text, opted_in boolean);
                INSERT INTO "{schema}".invoices VALUES
                    (1, 'cus_1', 'Ada@Example.com', 'Ada Lovelace', 'GB00ADA', 19.90, '2024-05-01T12:30:00Z'),
                    (2, 'cus_2', 'grace@example.com', 'Grace Hopper', 'US00GRACE', 7.50, '2024-05-02T08:00:00Z');
                INSERT INTO "{schema}".payments VALUES (10, 1, '2024-05-03'), (20, 2, '2024-05-04');
                INSERT INTO "{schema}".marketing VALUES (1, 'ADA@EXAMPLE.COM', true), (2, 'grace@example.com', false);
                """
            )
        )
    try:
        yield sync_url, schema
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def sources_file(world: Path, remote: HttpSourceServer, billing: tuple[str, str]) -> Path:
    url, schema = billing
    return write_world(
        world,
        loyalty_url=remote.url,
        extra=f"""\
  - name: billing
    type: sql
    url: {url}
    schema: {schema}
    entities:
      - name: invoices
        table: invoices
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{billing_name: null, iban: redact, email: hash}}}}
        retention: Invoices are kept 10 years for tax law
      - name: payments
        table: payments
        match: {{invoice_id: invoices.id}}
        erase: keep
        retention: Payment records are kept 10 years for tax law
      - name: marketing
        table: marketing
        match: {{email: email}}
        erase: delete
""",
    )


def billing_rows(billing: tuple[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    url, schema = billing
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [tuple(row) for row in conn.execute(text(query.format(s=schema)))]
                for name, query in {
                    "invoices": 'SELECT id, customer_id, email, billing_name, iban FROM "{s}".invoices ORDER BY id',
                    "payments": 'SELECT id, invoice_id FROM "{s}".payments ORDER BY id',
                    "marketing": 'SELECT id, email FROM "{s}".marketing ORDER BY id',
                }.items()
            }
    finally:
        engine.dispose()


async def test_access_and_deletion_span_a_postgresql_source(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    billing: tuple[str, str],
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")
    archive = zipfile.ZipFile(io.BytesIO((await client.get(link)).content))
    data = json.loads(archive.read("data.json"))
    assert data["sources"]["billing"] == {
        "invoices": [
            {
                "id": 1,
                "customer_id": "cus_1",
                "email": "Ada@Example.com",
                "billing_name": "Ada Lovelace",
                "iban": "GB00ADA",
                "amount": "19.90",
                "issued_at": "2024-05-01T12:30:00+00:00",
            }
        ],
        "payments": [{"id": 10, "invoice_id": 1, "paid_at": "2024-05-03"}],
        "marketing": [{"id": 1, "email": "ADA@EXAMPLE.COM", "opted_in": True}],
    }
    assert "billing/invoices.csv" in archive.namelist()
    assert "US00GRACE" not in archive.read("billing/invoices.csv").decode()

    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert view["result"]["sources"]["billing"] == {
        "invoices": {
            "action": "anonymized",
            "count": 1,
            "columns": {"billing_name": "null", "iban": "redact", "email": "hash"},
            "title": "invoices",
            "basis": None,
            "retention": "Invoices are kept 10 years for tax law",
            "pseudonymised": True,
        },
        "payments": {
            "action": "kept",
            "count": 1,
            "reason": "Payment records are kept 10 years for tax law",
            "title": "payments",
            "basis": None,
            "retention": "Payment records are kept 10 years for tax law",
            "pseudonymised": False,
        },
        "marketing": {
            "action": "deleted",
            "count": 1,
            "title": "marketing",
            "basis": None,
            "retention": None,
            "pseudonymised": False,
        },
    }
    assert billing_rows(billing) == {
        "invoices": [
            (1, "cus_1", HASHED["Ada@Example.com"], None, "[redacted]"),
            (2, "cus_2", "grace@example.com", "Grace Hopper", "US00GRACE"),
        ],
        "payments": [(10, 1), (20, 2)],
        "marketing": [(2, "grace@example.com")],
    }
