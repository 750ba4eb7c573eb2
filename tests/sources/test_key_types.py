"""Customer ids of every common key type (integer, text, UUID) on SQLite, PostgreSQL and MariaDB: found,
collected and erased; a column that can never match fails at once (and at start-up), naming source, table and
column. PostgreSQL runs with TEST_DATABASE_URL; MariaDB with TEST_MYSQL_URL (default: the local server as root,
skipped only when nothing answers there and the variable is unset)."""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.cli.startup import check_sources
from app.core.config import ConfigError, Settings
from app.sources import Customer, DataSources, Identity, SourceError
from app.sources.sql import SqlDataSource

from .factories import SECRET, write_sources

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/"
KEY_TYPES = {
    "integer": {"postgresql": "integer", "mysql": "INT", "sqlite": "INTEGER"},
    "text": {"postgresql": "varchar(40)", "mysql": "VARCHAR(40)", "sqlite": "TEXT"},
    "uuid": {"postgresql": "uuid", "mysql": "UUID", "sqlite": "UUID"},
}
ADA = {"integer": "1", "text": "cus_1", "uuid": "0b7f3c2e-5a4d-4e8b-9c1a-2f6d8e4b1a01"}
BOB = {"integer": "2", "text": "cus_2", "uuid": "7d1e9a40-3c2b-4f6e-8a5d-9b0c1e2f3a4b"}
# Ids a column of that type cannot hold: they must find nobody (MySQL would compare 'cus_1' = 0 as true).
FOREIGN = {"integer": "cus_1", "text": "cus_404", "uuid": "not-a-uuid"}


@dataclass
class Database:
    dialect: str  # postgresql, mysql or sqlite
    url: str  # a sync SQLAlchemy URL
    schema: str | None

    def qualified(self, table: str) -> str:
        return f'"{self.schema}".{table}' if self.schema else table

    def run(self, *statements: str, params: list[dict[str, Any]] | None = None) -> None:
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.execute(text(statement), params or [{}])
        finally:
            engine.dispose()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(query))]
        finally:
            engine.dispose()


def _postgresql() -> Iterator[Database]:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL")
    sync_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)
    database = Database("postgresql", sync_url, f"keys_{uuid.uuid4().hex[:10]}")
    database.run(f'CREATE SCHEMA "{database.schema}"')
    try:
        yield database
    finally:
        database.run(f'DROP SCHEMA "{database.schema}" CASCADE')


def _mariadb() -> Iterator[Database]:
    configured = os.environ.get("TEST_MYSQL_URL")
    server = make_url(configured or DEFAULT_MYSQL_URL)
    admin = create_engine(server.set(database=None))
    name = f"keys_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}`"))
    except OperationalError:
        admin.dispose()
        if configured:
            raise
        pytest.skip(f"no MariaDB/MySQL answers at {DEFAULT_MYSQL_URL} (set TEST_MYSQL_URL)")
    try:
        yield Database("mysql", server.set(database=name).render_as_string(hide_password=False), None)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE `{name}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path}/shop.db", None)
    elif request.param == "postgresql":
        yield from _postgresql()
    else:
        yield from _mariadb()


def build(
    database: Database, key: str, *, customer_id_type: str | None = None, order_id_type: str = ""
) -> None:
    """customers (Ada, Bob), orders (Ada 10 and 11, Bob 20) and items (100, 101, 200) with ``key`` ids."""
    key_type = KEY_TYPES[key][database.dialect]
    q = database.qualified
    database.run(
        f"CREATE TABLE {q('customers')} (id {key_type} PRIMARY KEY, email VARCHAR(100), name VARCHAR(100))",
        f"CREATE TABLE {q('orders')} (id INTEGER PRIMARY KEY, customer_id {customer_id_type or key_type}, "
        "email VARCHAR(100), note VARCHAR(200))",
        f"CREATE TABLE {q('items')} (id INTEGER PRIMARY KEY, order_id {order_id_type or 'INTEGER'}, "
        "sku VARCHAR(20))",
    )
    ada, bob = _value(key, ADA[key]), _value(key, BOB[key])
    database.run(
        f"INSERT INTO {q('customers')} (id, email, name) VALUES (:id, :email, :name)",
        params=[
            {"id": ada, "email": "Ada@Example.com", "name": "Ada"},
            {"id": bob, "email": "bob@example.com", "name": "Bob"},
        ],
    )
    if customer_id_type is None:
        database.run(
            f"INSERT INTO {q('orders')} (id, customer_id, email, note) VALUES (:id, :customer, :email, :note)",
            params=[
                {"id": 10, "customer": ada, "email": "ada@example.com", "note": "ring twice"},
                {"id": 11, "customer": ada, "email": "ADA@example.com", "note": None},
                {"id": 20, "customer": bob, "email": "bob@example.com", "note": "leave at door"},
            ],
        )
        database.run(
            f"INSERT INTO {q('items')} (id, order_id, sku) VALUES (:id, :order_id, :sku)",
            params=[
                {"id": 100, "order_id": 10, "sku": "TEA"},
                {"id": 101, "order_id": 11, "sku": "MUG"},
                {"id": 200, "order_id": 20, "sku": "KETTLE"},
            ],
        )


def _value(key: str, value: str) -> Any:
    return int(value) if key == "integer" else value


def sources_yaml(database: Database) -> str:
    schema = f"    schema: {database.schema}\n" if database.schema else ""
    return (
        "sources:\n"
        "  - name: shop\n"
        "    type: sql\n"
        f"    url: {database.url}\n"
        f"{schema}"
        "    directory: {table: customers, id: id, email: email, name: [name]}\n"
        "    entities:\n"
        "      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n"
        "      - name: orders\n"
        "        table: orders\n"
        "        match: {customer_id: customer_id}\n"
        "        erase: {anonymize: {email: hash, note: redact}}\n"
        "      - {name: items, table: items, match: {order_id: orders.id}, erase: delete}\n"
    )


async def collected(sources: DataSources, identity: Identity) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    async for _source, entity, record in sources.collect(identity):
        out[entity].append(record)
    return dict(out)


@pytest.mark.parametrize("key", ["integer", "text", "uuid"])
async def test_customers_are_found_collected_and_erased_whatever_their_key_type(
    tmp_path: Path, database: Database, key: str
) -> None:
    build(database, key)
    sources = DataSources.from_file(write_sources(tmp_path, sources_yaml(database)), secret_key=SECRET)
    try:
        assert sources.check_schema() == []
        ada = Customer(id=ADA[key], email="Ada@Example.com", name="Ada")
        assert await sources.find_customer(customer_id=ADA[key]) == ada
        assert await sources.find_customer(email="ada@EXAMPLE.com") == ada
        assert await sources.find_customer(customer_id=FOREIGN[key]) is None
        assert await sources.find_customer(customer_id="99") is None

        identity = Identity.of(customer_id=ada.id, email=ada.email)
        data = await collected(sources, identity)
        assert [str(r["id"]) for r in data["customers"]] == [ADA[key]]
        assert sorted(r["id"] for r in data["orders"]) == [10, 11]
        assert {str(r["customer_id"]) for r in data["orders"]} == {ADA[key]}
        assert sorted(r["id"] for r in data["items"]) == [100, 101]
        # An id the key column cannot hold collects nothing (and asks the database nothing it would refuse).
        assert await collected(sources, Identity.of(customer_id=FOREIGN[key])) == {}

        report = await sources.erase(identity)
        assert report["verified"] is True
        counts = {name: (part["action"], part["count"]) for name, part in report["sources"]["shop"].items()}
        assert counts == {"customers": ("deleted", 1), "orders": ("anonymized", 2), "items": ("deleted", 2)}
        again = await sources.erase(identity)  # repeating is safe
        assert again["verified"] is True
    finally:
        await sources.aclose()

    q = database.qualified
    assert [str(r[0]) for r in database.rows(f"SELECT id FROM {q('customers')}")] == [BOB[key]]
    orders = {r[0]: r[1:] for r in database.rows(f"SELECT id, email, note FROM {q('orders')}")}
    assert orders[20] == ("bob@example.com", "leave at door")
    assert [len(orders[i][0]) for i in (10, 11)] == [64, 64]  # HMAC-SHA256 hex
    assert [orders[i][1] for i in (10, 11)] == ["[redacted]", None]
    assert database.rows(f"SELECT id FROM {q('items')}") == [(200,)]


@pytest.fixture(params=["postgresql", "mariadb"])
def typed_database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database whose columns have fixed types (SQLite's take any value: nothing there can mismatch)."""
    yield from _postgresql() if request.param == "postgresql" else _mariadb()


def drop_connections(database: Database, tag: str) -> int:
    """What a restart of the source's server does to the source: every connection it holds is cut."""
    if database.dialect == "postgresql":
        query = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{tag}'"
        return len(database.rows(query))
    name = make_url(database.url).database
    ids = database.rows(
        f"SELECT id FROM information_schema.processlist WHERE db = '{name}' AND id <> CONNECTION_ID()"
    )
    for (connection_id,) in ids:
        database.run(f"KILL {connection_id}")
    return len(ids)


async def test_a_source_whose_connections_were_cut_answers_the_next_look_up_and_read(
    tmp_path: Path, typed_database: Database
) -> None:
    build(typed_database, "text")
    tag = f"src_{uuid.uuid4().hex[:8]}"
    database = typed_database
    if database.dialect == "postgresql":
        database = replace(
            database,
            url=make_url(database.url)
            .update_query_dict({"application_name": tag})
            .render_as_string(hide_password=False),
        )
    sources = DataSources.from_file(write_sources(tmp_path, sources_yaml(database)), secret_key=SECRET)
    ada = Customer(id=ADA["text"], email="Ada@Example.com", name="Ada")
    identity = Identity.of(customer_id=ada.id, email=ada.email)
    try:
        assert await sources.find_customer(email="ada@example.com") == ada
        before = await collected(sources, identity)
        assert sorted(r["id"] for r in before["orders"]) == [10, 11]

        assert drop_connections(typed_database, tag) >= 1
        assert await sources.find_customer(email="ada@example.com") == ada
        assert drop_connections(typed_database, tag) >= 1
        # The read has no retry around it (a job's would cost an attempt): the cut connection is replaced.
        assert await collected(sources, identity) == before
        assert drop_connections(typed_database, tag) >= 1
        report = await sources.erase(identity)
        assert report["verified"] is True
        orders = report["sources"]["shop"]["orders"]
        assert (orders["action"], orders["count"]) == ("anonymized", 2)
    finally:
        await sources.aclose()


def where(database: Database, table: str, column: str) -> str:
    prefix = f"{database.schema}." if database.schema else ""
    return f"table {prefix}{table}, column {column}"


async def test_a_key_column_that_can_never_match_fails_at_once_naming_source_table_and_column(
    tmp_path: Path, typed_database: Database
) -> None:
    build(typed_database, "integer", customer_id_type="DATE")
    path = write_sources(tmp_path, sources_yaml(typed_database))
    expected = (
        f"source 'shop': {where(typed_database, 'orders', 'customer_id')} is DATE: "
        "a customer id can only be matched on an integer, text or UUID column"
    )
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        identity = Identity.of(customer_id="1", email="ada@example.com")
        for attempt in (
            collected(sources, identity),
            sources.erase(identity),
            sources.dry_run_erasure(identity),
        ):
            with pytest.raises(SourceError) as raised:
                await attempt
            assert str(raised.value) == expected
            assert raised.value.retryable is False  # a job fails at once instead of retrying for a minute
    finally:
        await sources.aclose()
    assert len(typed_database.rows(f"SELECT id FROM {typed_database.qualified('customers')}")) == 2

    # At start-up, where the schema can be read, `serve` and `worker` stop with the same words.
    settings = Settings(_env_file=None, sources_file=path, secret_key=SECRET)
    with pytest.raises(ConfigError) as stopped:
        check_sources(settings)
    assert str(stopped.value) == f"configuration error: SOURCES_FILE: {expected}"


async def test_a_link_between_columns_of_different_types_is_named(
    tmp_path: Path, typed_database: Database
) -> None:
    build(typed_database, "text", order_id_type="VARCHAR(20)")
    sources = DataSources.from_file(write_sources(tmp_path, sources_yaml(typed_database)), secret_key=SECRET)
    try:
        with pytest.raises(SourceError) as raised:
            sources.check_schema()
    finally:
        await sources.aclose()
    message = str(raised.value)
    assert message.startswith(f"source 'shop': {where(typed_database, 'items', 'order_id')} is VARCHAR(20)")
    assert f"but is matched on {where(typed_database, 'orders', 'id')}, which is INTEGER" in message
    assert raised.value.retryable is False


async def test_an_unreachable_source_does_not_stop_start_up(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    path = write_sources(
        tmp_path,
        "sources:\n  - name: shop\n    type: sql\n"
        f"    url: {url}\n"
        "    directory: {table: customers, id: id, email: email}\n"
        "    entities:\n      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n",
    )
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        [problem] = sources.check_schema()
    finally:
        await sources.aclose()
    assert problem.startswith("source 'shop': database error (OperationalError): ")
    check_sources(Settings(_env_file=None, sources_file=path, secret_key=SECRET))  # logs, does not raise


async def test_the_start_up_check_does_not_create_a_missing_sqlite_file(tmp_path: Path) -> None:
    # `python -m app demo` creates the demo once, when var/demo/crm.db is missing: no check may create it empty.
    missing = tmp_path / "crm.db"
    path = write_sources(
        tmp_path,
        "sources:\n  - name: crm\n    type: sql\n"
        f"    url: sqlite:///{missing}\n"
        "    directory: {table: customers, id: id, email: email}\n"
        "    entities:\n      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n",
    )
    check_sources(Settings(_env_file=None, sources_file=path, secret_key=SECRET))
    assert not missing.exists()


def _matched_on_both_yaml(database: Database) -> str:
    """``sources_yaml`` with orders matched on the customer id or on the address: an identity's keys decide which
    comparisons a read makes."""
    return sources_yaml(database).replace(
        "match: {customer_id: customer_id}", "match: {customer_id: customer_id, email: email}"
    )


def _ids(data: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {entity: sorted(str(record["id"]) for record in records) for entity, records in data.items()}


@pytest.mark.parametrize("key", ["integer", "uuid"])
async def test_each_kind_of_identity_reads_its_own_rows_from_statements_built_once(
    tmp_path: Path, database: Database, key: str
) -> None:
    """Look-ups and reads are built once per kind of identity and bound per call: identities of every kind, one
    after the other and again, each get their own rows, and the second round builds nothing new."""
    build(database, key)
    path = write_sources(tmp_path, _matched_on_both_yaml(database))
    sources = DataSources.from_file(path, secret_key=SECRET)
    (source,) = sources.sources
    assert isinstance(source, SqlDataSource)
    executed: list[object] = []
    event.listen(source.reads, "before_execute", lambda _c, statement, *_: executed.append(statement))
    ada_id, bob_id = ADA[key], BOB[key]
    asked = [
        (
            Identity.of(customer_id=ada_id, email="ada@example.com"),
            {"customers": [ada_id], "orders": ["10", "11"]},
        ),
        (Identity.of(email="bob@example.com"), {"orders": ["20"]}),  # the address alone finds Bob's order
        (Identity.of(customer_id=bob_id), {"customers": [bob_id], "orders": ["20"]}),
        # An id the key column cannot hold is left out; the address still finds Ada's orders (any case).
        (Identity.of(customer_id=FOREIGN[key], email="ADA@example.com"), {"orders": ["10", "11"]}),
        (Identity.of(email="nobody@example.com"), {}),
    ]
    items = {"10": "100", "11": "101", "20": "200"}
    try:
        assert sources.check_schema() == []
        statements_per_round = []
        for _round in (1, 2):
            before = len(executed)
            for identity, expected in asked:
                if "orders" in expected:
                    expected = {**expected, "items": sorted(items[order] for order in expected["orders"])}
                assert _ids(await collected(sources, identity)) == expected, identity
            assert await sources.find_customer(customer_id=bob_id) == Customer(
                bob_id, "bob@example.com", "Bob"
            )
            assert await sources.find_customer(email="ADA@example.COM") == Customer(
                ada_id, "Ada@Example.com", "Ada"
            )
            assert await sources.find_customer(customer_id=FOREIGN[key]) is None
            assert await sources.find_customer(email="nobody@example.com") is None
            statements_per_round.append({id(statement) for statement in executed[before:]})
        # The second round ran the very statements of the first (SQLite's are built once too).
        assert statements_per_round[0]
        assert statements_per_round[1] == statements_per_round[0]
    finally:
        await sources.aclose()


async def test_a_source_fixed_while_running_is_read_with_its_new_types(
    tmp_path: Path, typed_database: Database
) -> None:
    """Until every compared column can match, the types are read again on each use and no statement is kept:
    once the schema is fixed (here by making every customer id text), look-ups and reads bind the id as text."""
    build(typed_database, "integer", customer_id_type="DATE")
    sources = DataSources.from_file(write_sources(tmp_path, sources_yaml(typed_database)), secret_key=SECRET)
    (source,) = sources.sources
    assert isinstance(source, SqlDataSource)
    executed: list[object] = []
    event.listen(source.reads, "before_execute", lambda _c, statement, *_: executed.append(statement))
    ada = Customer(id="1", email="Ada@Example.com", name="Ada")
    identity = Identity.of(customer_id="1", email="ada@example.com")
    try:
        # The directory is sound, so customers are found (the id bound as an integer) while orders cannot be
        # read; each look-up meanwhile is built for itself.
        looked_up = []
        for _ in (1, 2):
            assert await sources.find_customer(customer_id="1") == ada
            looked_up.append(executed[-1])  # the look-up, after the reads of the types
        assert looked_up[0] is not looked_up[1]
        with pytest.raises(SourceError):
            await collected(sources, identity)

        customers, orders = typed_database.qualified("customers"), typed_database.qualified("orders")
        if typed_database.dialect == "postgresql":
            typed_database.run(
                f"ALTER TABLE {customers} ALTER COLUMN id TYPE VARCHAR(40)",
                f"ALTER TABLE {orders} ALTER COLUMN customer_id TYPE VARCHAR(40) USING NULL",
            )
        else:
            typed_database.run(
                f"ALTER TABLE {customers} MODIFY id VARCHAR(40)",
                f"ALTER TABLE {orders} MODIFY customer_id VARCHAR(40)",
            )
        typed_database.run(
            f"INSERT INTO {orders} (id, customer_id, email, note) VALUES (10, '1', 'ada@example.com', NULL), "
            "(20, '2', 'bob@example.com', NULL)"
        )

        for _ in (1, 2):
            assert await sources.find_customer(customer_id="1") == ada
            assert await sources.find_customer(customer_id="01") is None  # text now: no longer the number 1
            assert await sources.find_customer(email="ADA@example.com") == ada
            assert _ids(await collected(sources, identity)) == {"customers": ["1"], "orders": ["10"]}
    finally:
        await sources.aclose()
