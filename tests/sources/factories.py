"""A small shop database (two customers) built with SQLAlchemy Core, so SQLite and PostgreSQL share it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
)

from ..conftest import SECRET as SECRET  # re-exported: the key the shop's hashed values use


def shop_metadata(schema: str | None = None) -> MetaData:
    metadata = MetaData(schema=schema)
    Table(
        "customers",
        metadata,
        Column("id", String, primary_key=True),
        Column("first_name", String),
        Column("last_name", String),
        Column("email", String),
        Column("created_at", DateTime(timezone=True)),
    )
    Table(
        "orders",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", String),
        Column("total", Numeric(10, 2)),
        Column("email", String),
        Column("phone", String),
        Column("address", String),
        Column("receipt", LargeBinary),
    )
    Table(
        "order_items",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("order_id", Integer),
        Column("sku", String),
    )
    Table("newsletter", metadata, Column("id", Integer, primary_key=True), Column("email", String))
    Table(
        "devices",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", String),
        Column("token", String),
    )
    return metadata


def build_shop(url: str, *, schema: str | None = None) -> None:
    """Create the tables and two customers: cus_1 (Ada, 2 orders, 3 items) and cus_2 (Bob, 1 order)."""
    metadata = shop_metadata(schema)
    engine = create_engine(url)
    created = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    t = metadata.tables
    prefix = f"{schema}." if schema else ""
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(
            insert(t[prefix + "customers"]),
            [
                {
                    "id": "cus_1",
                    "first_name": "Ada",
                    "last_name": "Lovelace <script>",
                    "email": "Ada@Example.com",
                    "created_at": created,
                },
                {
                    "id": "cus_2",
                    "first_name": "Bob",
                    "last_name": "Builder",
                    "email": "bob@example.com",
                    "created_at": created,
                },
            ],
        )
        conn.execute(
            insert(t[prefix + "orders"]),
            [
                {
                    "id": 10,
                    "customer_id": "cus_1",
                    "total": Decimal("19.90"),
                    "email": "ada@example.com",
                    "phone": "+44 1",
                    "address": "1 Analytical St",
                    "receipt": b"\x00\x01pdf",
                },
                {
                    "id": 11,
                    "customer_id": "cus_1",
                    "total": Decimal("5.00"),
                    "email": "ADA@example.com",
                    "phone": None,
                    "address": "1 Analytical St",
                    "receipt": None,
                },
                {
                    "id": 20,
                    "customer_id": "cus_2",
                    "total": Decimal("7.50"),
                    "email": "bob@example.com",
                    "phone": "+44 2",
                    "address": "2 Site Rd",
                    "receipt": None,
                },
            ],
        )
        conn.execute(
            insert(t[prefix + "order_items"]),
            [
                {"id": 100, "order_id": 10, "sku": "A"},
                {"id": 101, "order_id": 10, "sku": "B"},
                {"id": 102, "order_id": 11, "sku": "C"},
                {"id": 200, "order_id": 20, "sku": "D"},
            ],
        )
        conn.execute(
            insert(t[prefix + "newsletter"]),
            [
                {"id": 1, "email": "ADA@example.COM"},
                {"id": 2, "email": "bob@example.com"},
                {"id": 3, "email": "someone@example.com"},
            ],
        )
        conn.execute(
            insert(t[prefix + "devices"]),
            [
                {"id": 1, "customer_id": "cus_1", "token": "tok-ada"},
                {"id": 2, "customer_id": "cus_2", "token": "tok-bob"},
            ],
        )
    engine.dispose()


def shop_yaml(url: str, *, schema: str | None = None, http_url: str | None = None) -> str:
    """The sources file for the shop (and, with ``http_url``, a remote loyalty source)."""
    text = f"""\
sources:
  - name: crm
    type: sql
    url: {url}
{f"    schema: {schema}" if schema else ""}
    directory:
      table: customers
      id: id
      email: email
      name: [first_name, last_name]
    entities:
      - name: customers
        table: customers
        match: {{id: customer_id}}
        erase: delete
        title: {{en: Your account, de: Ihr Kundenkonto}}
        purpose: Customer account
        categories: [contact data]
        retention_basis: contract
      - name: orders
        table: orders
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{address: null, phone: redact, email: hash}}}}
        title: Your orders
        retention: Invoices are kept 7 years for tax law
        recipients: [tax advisor]
      - name: order_items
        table: order_items
        match: {{order_id: orders.id}}
        erase: keep
        retention: Invoice lines are kept 7 years for tax law
        retention_basis: legal_obligation
      - name: newsletter
        table: newsletter
        match: {{email: email}}
        erase: delete
      - name: devices
        table: devices
        match: {{customer_id: customers.id}}
        erase: delete
"""
    if http_url:
        text += f"""\
  - name: loyalty
    type: http
    url: {http_url}/gdpr/customers/{{customer_id}}
    headers_env: {{Authorization: LOYALTY_AUTH}}
    timeout: PT0.5S
    backoff: PT0.01S
    entities:
      - name: points
        title: {{en: Loyalty points, de: Treuepunkte}}
        purpose: Loyalty programme
"""
    return text


def write_sources(directory: Path, text: str) -> Path:
    path = directory / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path
