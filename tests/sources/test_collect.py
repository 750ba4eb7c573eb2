"""Collecting a customer's data: exactly their records, from SQL (SQLite, PostgreSQL) and HTTP sources."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

from app.sources import Customer, DataSources, Identity

from .factories import SECRET, shop_yaml, write_sources
from .http_source import HttpSourceServer

ADA = Identity.of(customer_id="cus_1", email="ada@example.com")


async def collected(sources: DataSources, identity: Identity) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    async for source, entity, record in sources.collect(identity):
        out[source][entity].append(record)
    return {source: dict(entities) for source, entities in out.items()}


async def test_find_customer_by_id_or_email(shop: DataSources) -> None:
    ada = Customer(id="cus_1", email="Ada@Example.com", name="Ada Lovelace <script>")
    assert await shop.find_customer(customer_id="cus_1") == ada
    assert await shop.find_customer(email="ADA@example.com") == ada
    assert await shop.find_customer(customer_id="cus_404") is None
    assert await shop.find_customer(email="nobody@example.com") is None
    assert await shop.find_customer() is None


async def test_collects_exactly_the_customers_records(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.data["cus_1"] = {"points": [{"balance": 120, "tier": "gold"}]}
    remote.data["cus_2"] = {"points": [{"balance": 5, "tier": "basic"}]}

    data = await collected(shop, ADA)

    crm = data["crm"]
    assert [r["id"] for r in crm["customers"]] == ["cus_1"]
    assert sorted(r["id"] for r in crm["orders"]) == [10, 11]
    assert sorted(r["id"] for r in crm["order_items"]) == [100, 101, 102]
    assert [r["email"] for r in crm["newsletter"]] == ["ADA@example.COM"]  # matched case-insensitively
    assert [r["token"] for r in crm["devices"]] == ["tok-ada"]
    assert data["loyalty"] == {"points": [{"balance": 120, "tier": "gold"}]}
    # The remote got the configured header, read from the environment.
    assert remote.calls[-1][3]["authorization"] == "Bearer loyalty-secret-token"


async def test_values_are_json_safe(shop: DataSources) -> None:
    data = await collected(shop, ADA)
    order = next(r for r in data["crm"]["orders"] if r["id"] == 10)
    assert order["total"] in ("19.90", 19.9)  # SQLite stores NUMERIC as REAL; PostgreSQL keeps the exact text
    assert order["receipt"] == "AAFwZGY="  # bytes as base64
    assert data["crm"]["customers"][0]["created_at"].startswith("2024-05-01")


async def test_email_only_identity_finds_only_email_matched_rows(shop: DataSources) -> None:
    data = await collected(shop, Identity.of(email="Someone@Example.com"))
    assert data == {"crm": {"newsletter": [{"id": 3, "email": "someone@example.com"}]}}


async def test_http_source_without_data(shop: DataSources, remote: HttpSourceServer) -> None:
    data = await collected(shop, Identity.of(customer_id="cus_2"))
    assert "loyalty" not in data  # 404: nothing held
    assert [r["id"] for r in data["crm"]["orders"]] == [20]


async def test_postgres_source(tmp_path: Path, pg_shop: tuple[str, str]) -> None:
    url, schema = pg_shop
    sources = DataSources.from_file(write_sources(tmp_path, shop_yaml(url, schema=schema)), secret_key=SECRET)
    try:
        assert await sources.find_customer(email="ada@EXAMPLE.com") is not None
        data = await collected(sources, ADA)
        assert sorted(r["id"] for r in data["crm"]["order_items"]) == [100, 101, 102]
        order = next(r for r in data["crm"]["orders"] if r["id"] == 10)
        assert order["total"] == "19.90"  # Decimal, exact
        assert order["receipt"] == "AAFwZGY="
        assert data["crm"]["customers"][0]["created_at"] == "2024-05-01T12:30:00+00:00"
        assert "cus_2" not in str(data)
    finally:
        await sources.aclose()


async def test_streams_large_entities_in_batches(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT, email TEXT)")
        conn.execute("CREATE TABLE events (id INTEGER, customer_id TEXT)")
        conn.execute("INSERT INTO customers VALUES ('c1', 'c1@example.com'), ('c2', 'c2@example.com')")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?)", [(i, "c1" if i % 3 else "c2") for i in range(9000)]
        )
    path = write_sources(
        tmp_path,
        f"""\
sources:
  - name: app
    type: sql
    url: sqlite:///{db}
    directory: {{table: customers, id: id, email: email}}
    entities:
      - {{name: events, table: events, match: {{customer_id: customer_id}}, erase: delete}}
""",
    )
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        sizes = [len(batch) async for _, _, batch in sources.collect_batches(Identity.of(customer_id="c1"))]
        assert sum(sizes) == 6000
        assert max(sizes) <= 1000
    finally:
        await sources.aclose()
