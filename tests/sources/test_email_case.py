"""An address is found whatever its case, through an index where the source has one, and start-up names the
index to create where it has none (a look-up by email would read the whole table: anyone holding the public
app key can ask for unknown addresses). PostgreSQL runs with TEST_DATABASE_URL; MariaDB as in test_key_types."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from app.cli.startup import check_sources
from app.core.config import Settings
from app.sources import Customer, DataSources, Identity

from .factories import SECRET, write_sources
from .test_key_types import Database, _mariadb, _postgresql, collected

ADA = Customer(id="1", email="Ada@Example.com", name="Ada")


@pytest.fixture
def postgresql() -> Iterator[Database]:
    yield from _postgresql()


@pytest.fixture
def mariadb() -> Iterator[Database]:
    yield from _mariadb()


def build(database: Database, email_type: str) -> None:
    """customers (Ada, Bob) with an index on email, and orders matched on the customer's address."""
    q = database.qualified
    database.run(
        f"CREATE TABLE {q('customers')} (id INTEGER PRIMARY KEY, email {email_type}, name VARCHAR(100))",
        f"CREATE INDEX ix_customers_email ON {q('customers')} (email)",
        f"CREATE TABLE {q('orders')} (id INTEGER PRIMARY KEY, email {email_type}, note VARCHAR(200))",
    )
    database.run(
        f"INSERT INTO {q('customers')} (id, email, name) VALUES (:id, :email, :name)",
        params=[
            {"id": 1, "email": "Ada@Example.com", "name": "Ada"},
            {"id": 2, "email": "bob@x.example", "name": "Bob"},
        ],
    )
    database.run(
        f"INSERT INTO {q('orders')} (id, email, note) VALUES (:id, :email, :note)",
        params=[
            {"id": 10, "email": "ADA@example.COM", "note": "ring twice"},
            {"id": 20, "email": "bob@x.example", "note": "leave at door"},
        ],
    )


def sources_file(tmp_path: Path, database: Database) -> Path:
    schema = f"    schema: {database.schema}\n" if database.schema else ""
    return write_sources(
        tmp_path,
        "sources:\n"
        "  - name: shop\n"
        "    type: sql\n"
        f"    url: {database.url}\n"
        f"{schema}"
        "    directory: {table: customers, id: id, email: email, name: [name]}\n"
        "    entities:\n"
        "      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n"
        "      - {name: orders, table: orders, match: {email: email}, erase: delete}\n",
    )


def start_up(path: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What start-up warns about the sources."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_sources(Settings(_env_file=None, sources_file=path, secret_key=SECRET))
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


async def lookup_statement(sources: DataSources, email: str) -> tuple[Customer | None, str, Any]:
    """Look ``email`` up; the customer found, and the statement and parameters the source sent."""
    sent: list[tuple[str, Any]] = []
    engine = sources.directory.reads

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        found = await sources.find_customer(email=email)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    (statement, parameters) = sent[-1]
    return found, statement, parameters


def pg_plan(database: Database, statement: str, parameters: Any) -> str:
    """The plan PostgreSQL picks for the statement when a sequential scan is its last resort."""
    engine = create_engine(database.url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")
            rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            return "\n".join(str(row[0]) for row in rows)
    finally:
        engine.dispose()


async def test_postgresql_names_the_missing_index_and_following_the_advice_puts_look_ups_on_it(
    tmp_path: Path, postgresql: Database, caplog: pytest.LogCaptureFixture
) -> None:
    build(postgresql, "VARCHAR(100)")
    path = sources_file(tmp_path, postgresql)

    warnings = start_up(path, caplog)
    advice = [line for line in warnings if "no index serves that" in line]
    assert len(advice) == 2, warnings  # the directory's address and the orders matched on it
    directory = next(line for line in advice if ".customers.email" in line)
    assert directory.startswith(f"source shop: {postgresql.schema}.customers.email is matched")
    statement = directory.split("Create one: ", 1)[1]
    assert statement == f"CREATE INDEX ON {postgresql.schema}.customers (lower(email))"

    # Still found whatever the case, by reading the whole table.
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        found, sent, parameters = await lookup_statement(sources, "ADA@example.com")
        assert found == ADA
        assert "Seq Scan" in pg_plan(postgresql, sent, parameters)
    finally:
        await sources.aclose()

    # The statement start-up gave, run as given: start-up is quiet about the directory, look-ups use the index.
    postgresql.run(statement)
    assert [line for line in start_up(path, caplog) if ".customers.email" in line] == []
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        found, sent, parameters = await lookup_statement(sources, "ada@EXAMPLE.com")
        assert found == ADA
        plan = pg_plan(postgresql, sent, parameters)
        assert "Seq Scan" not in plan, plan
        assert "customers_lower_idx" in plan, plan
        assert await sources.find_customer(email="nobody@example.com") is None
    finally:
        await sources.aclose()


async def test_a_citext_address_is_compared_as_it_is_found_whatever_its_case_through_its_plain_index(
    tmp_path: Path, postgresql: Database, caplog: pytest.LogCaptureFixture
) -> None:
    postgresql.run("CREATE EXTENSION IF NOT EXISTS citext")
    build(postgresql, "citext")
    postgresql.run(f"CREATE INDEX ON {postgresql.qualified('orders')} (email)")
    path = sources_file(tmp_path, postgresql)

    assert [line for line in start_up(path, caplog) if "whatever its case" in line] == []
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        found, sent, parameters = await lookup_statement(sources, "ada@EXAMPLE.com")
        assert found == ADA
        plan = pg_plan(postgresql, sent, parameters)
        assert "Seq Scan" not in plan, plan
        assert "ix_customers_email" in plan, plan
        # The orders matched on the address: the one typed in capitals too, and not Bob's.
        data = await collected(sources, Identity.of(customer_id=None, email="ada@example.com"))
        assert [r["id"] for r in data["orders"]] == [10]
    finally:
        await sources.aclose()


async def test_a_citext_customer_id_is_still_compared_with_its_case(
    tmp_path: Path, postgresql: Database
) -> None:
    postgresql.run("CREATE EXTENSION IF NOT EXISTS citext")
    q = postgresql.qualified
    postgresql.run(
        f"CREATE TABLE {q('customers')} (id citext PRIMARY KEY, email citext, name VARCHAR(100))",
        f"CREATE TABLE {q('orders')} (id INTEGER PRIMARY KEY, email citext, note VARCHAR(200))",
        f"INSERT INTO {q('customers')} VALUES ('cus_ABC', 'Ada@Example.com', 'Ada')",
    )
    sources = DataSources.from_file(sources_file(tmp_path, postgresql), secret_key=SECRET)
    ada = Customer(id="cus_ABC", email="Ada@Example.com", name="Ada")
    try:
        assert sources.check_schema() == []
        # An id is compared as it is, as before (ids come from the app's token, exactly): only addresses are
        # compared whatever their case.
        assert await sources.find_customer(customer_id="cus_ABC") == ada
        assert await sources.find_customer(customer_id="CUS_abc") is None
        assert await sources.find_customer(email="ada@EXAMPLE.com") == ada
    finally:
        await sources.aclose()


async def test_mariadb_compares_a_case_insensitive_column_directly_and_warns_of_a_binary_one(
    tmp_path: Path, mariadb: Database, caplog: pytest.LogCaptureFixture
) -> None:
    build(mariadb, "VARCHAR(100)")  # the server's default collation: case-insensitive
    path = sources_file(tmp_path, mariadb)

    assert [line for line in start_up(path, caplog) if "whatever its case" in line] == []
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        found, sent, parameters = await lookup_statement(sources, "ADA@example.com")
        assert found == ADA
        assert "customers.email = %(" in sent, sent  # the column itself, which its index serves
        engine = create_engine(mariadb.url)
        try:
            with engine.connect() as conn:
                plan = conn.exec_driver_sql(f"EXPLAIN {sent}", parameters).mappings().first()
        finally:
            engine.dispose()
        assert plan is not None
        assert "ix_customers_email" in str(plan["possible_keys"]), plan
        data = await collected(sources, Identity.of(customer_id=None, email="ada@example.com"))
        assert [r["id"] for r in data["orders"]] == [10]
        assert await sources.find_customer(email="nobody@example.com") is None
        # The collation takes à for a and ß for ss; an address is still only itself, whatever its case.
        assert await sources.find_customer(email="ada@exàmple.com") is None
        assert await collected(sources, Identity.of(customer_id=None, email="ada@exàmple.com")) == {}
        mariadb.run("INSERT INTO customers (id, email, name) VALUES (3, 'strasse@x.example', 'Sam')")
        assert await sources.find_customer(email="straße@x.example") is None
        assert await sources.find_customer(email="STRASSE@x.example") == Customer(
            id="3", email="strasse@x.example", name="Sam"
        )
    finally:
        await sources.aclose()

    # A binary collation tells case apart: still found by lower(), and start-up says why it is slow.
    mariadb.run("ALTER TABLE customers MODIFY email VARCHAR(100) COLLATE utf8mb4_bin")
    warnings = start_up(path, caplog)
    assert any(
        line.startswith("source shop: customers.email is matched") and "utf8mb4_bin tells case apart" in line
        for line in warnings
    ), warnings
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        assert await sources.find_customer(email="ada@EXAMPLE.com") == ADA
    finally:
        await sources.aclose()


def test_sqlite_sources_are_not_opened_to_be_read_and_still_match_whatever_the_case(tmp_path: Path) -> None:
    database = Database("sqlite", f"sqlite:///{tmp_path}/shop.db", None)
    build(database, "TEXT")
    path = sources_file(tmp_path, database)
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        assert sources.check_schema() == []
        assert sources.directory.find_customer(customer_id=None, email="ADA@example.com") == ADA
    finally:
        sources.dispose()
