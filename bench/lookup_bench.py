"""Look-ups by email in a directory of 1,000,000 customers (100,000 with --quick): the submit's question to
the brand's database. Addresses are matched whatever their case; without an index that serves the comparison,
every look-up reads the whole table, and an unknown address (anyone holding the public app key can send one)
always reads all of it. Each case through the service's own source (`DataSources.find_customer`, a thread hop
and SQLAlchemy included), beside a bare indexed `SELECT ... WHERE email = %s` with the same driver:

- PostgreSQL, varchar column with a plain index: compared as lower(email), no index serves it (start-up says
  which to create);
- the same after `CREATE INDEX ON customers (lower(email))`, the statement start-up gives;
- PostgreSQL citext with a plain index: compared directly;
- MariaDB, the default case-insensitive collation with a plain index: compared directly;
- MariaDB, utf8mb4_bin with a plain index: compared as lower(email), no index serves it.

    .venv/bin/python bench/run_all.py --only lookup          (MariaDB: TEST_MYSQL_URL or root@127.0.0.1:3306)
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import Row, Workspace, fmt_ratio, section, sync_url
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from app.sources import DataSources

SECRET = "bench-secret-key-bench-secret-key-0123456789"
LOOKUPS = 30  # unknown addresses per case (each reads the whole table where nothing serves it)


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms"


def _lookups(sources: DataSources, count: int) -> list[float]:
    async def run() -> list[float]:
        await sources.find_customer(email="warm-up@nowhere.example")
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            found = await sources.find_customer(email=f"{uuid.uuid4().hex}@Nowhere.example")
            timings.append(time.perf_counter() - started)
            assert found is None
        known = await sources.find_customer(email="CUSTOMER77@shop.example")
        assert known is not None, "customer 77 not found"
        assert known.id == "77", known
        return timings

    return asyncio.run(run())


def _bare(engine: Engine, table: str, count: int) -> list[float]:
    timings = []
    with engine.connect() as conn:
        for _ in range(count):
            address = f"{uuid.uuid4().hex}@nowhere.example"
            started = time.perf_counter()
            conn.execute(
                text(f"SELECT id, email, name FROM {table} WHERE email = :e LIMIT 1"), {"e": address}
            ).all()
            timings.append(time.perf_counter() - started)
    return timings


@contextmanager
def _source(url: str, table: str) -> Iterator[tuple[DataSources, list[str]]]:
    """The service's data sources on ``table``, and what they warned about at start."""
    with tempfile.TemporaryDirectory(prefix="lookup-bench-") as folder:
        path = Path(folder) / "sources.yaml"
        path.write_text(
            "sources:\n  - name: crm\n    type: sql\n"
            f"    url: {url}\n"
            f"    directory: {{table: {table}, id: id, email: email, name: [name]}}\n"
            "    entities:\n"
            f"      - {{name: customers, table: {table}, match: {{id: customer_id}}, erase: delete}}\n"
        )
        warnings: list[str] = []

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                warnings.append(record.getMessage())

        keep = Keep(logging.WARNING)
        logging.getLogger("app.sources").addHandler(keep)
        sources = DataSources.from_file(path, secret_key=SECRET)
        try:
            sources.check_schema()
            yield sources, warnings
        finally:
            logging.getLogger("app.sources").removeHandler(keep)
            sources.dispose()


def _case(
    rows: list[Row], name: str, *, url: str, table: str, bare: Engine, count: int, served: bool
) -> None:
    with _source(url, table) as (sources, warnings):
        timings = _lookups(sources, count)
    floor = _bare(bare, table, count)
    advice = next((w for w in warnings if "whatever its case" in w), None)
    print(
        f"{name:<58} unknown address: median {_median_ms(timings)} (bare indexed SELECT {_median_ms(floor)})"
        + (f"\n    start-up: {advice}" if advice else "")
    )
    rows.append(
        Row(
            f"look-up by email, {name}",
            _median_ms(timings),
            f"bare indexed SELECT {_median_ms(floor)}",
            fmt_ratio(statistics.median(timings), statistics.median(floor)),
            "< 5 ms" if served else "- (start-up names the fix)",
            statistics.median(timings) < 0.005 if served else None,
        )
    )


def run(
    *, url: str, ws: Workspace, work: Path, results: Path, quick: bool, shared: dict[str, Any]
) -> list[Row]:
    customers = 100_000 if quick else 1_000_000
    section(f"lookup: an unknown address in a directory of {customers:,} customers")
    rows: list[Row] = []
    pg_url = sync_url(url)
    pg = create_engine(pg_url)
    try:
        with pg.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS citext"))
            for table, kind in (("lookup_plain", "varchar(200)"), ("lookup_citext", "citext")):
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
                conn.execute(text(f"CREATE TABLE {table} (id bigint PRIMARY KEY, email {kind}, name text)"))
                conn.execute(
                    text(
                        f"INSERT INTO {table} SELECT g, 'customer' || g || '@shop.example', 'Name ' || g "
                        f"FROM generate_series(1, {customers}) g"
                    )
                )
                conn.execute(text(f"CREATE INDEX ON {table} (email)"))
                conn.execute(text(f"ANALYZE {table}"))
        scans = max(5, LOOKUPS // 3)
        _case(
            rows,
            "PostgreSQL varchar, plain index",
            url=pg_url,
            table="lookup_plain",
            bare=pg,
            count=scans,
            served=False,
        )
        with pg.begin() as conn:
            conn.execute(text("CREATE INDEX ON lookup_plain (lower(email))"))
        _case(
            rows,
            "PostgreSQL varchar, index on lower(email)",
            url=pg_url,
            table="lookup_plain",
            bare=pg,
            count=LOOKUPS,
            served=True,
        )
        _case(
            rows,
            "PostgreSQL citext, plain index",
            url=pg_url,
            table="lookup_citext",
            bare=pg,
            count=LOOKUPS,
            served=True,
        )
        with pg.begin() as conn:
            conn.execute(text("DROP TABLE lookup_plain, lookup_citext"))
    finally:
        pg.dispose()

    configured = os.environ.get("TEST_MYSQL_URL")
    server = make_url(configured or "mysql+pymysql://root@127.0.0.1:3306/")
    admin = create_engine(server.set(database=None))
    name = f"lookup_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE `{name}`"))
    except OperationalError as error:
        admin.dispose()
        print(f"MariaDB/MySQL not measured: {str(error.orig).splitlines()[0]}")
        return rows
    maria_url = server.set(database=name).render_as_string(hide_password=False)
    maria = create_engine(maria_url)
    try:
        with maria.begin() as conn:
            for table, collation in (("lookup_ci", ""), ("lookup_bin", " COLLATE utf8mb4_bin")):
                conn.execute(
                    text(
                        f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, email VARCHAR(200){collation}, name VARCHAR(100))"
                    )
                )
                conn.execute(
                    text(
                        f"INSERT INTO {table} SELECT seq, CONCAT('customer', seq, '@shop.example'), "
                        f"CONCAT('Name ', seq) FROM seq_1_to_{customers}"
                    )
                )
                conn.execute(text(f"CREATE INDEX ix_{table}_email ON {table} (email)"))
        _case(
            rows,
            "MariaDB, case-insensitive collation, plain index",
            url=maria_url,
            table="lookup_ci",
            bare=maria,
            count=LOOKUPS,
            served=True,
        )
        _case(
            rows,
            "MariaDB utf8mb4_bin, plain index",
            url=maria_url,
            table="lookup_bin",
            bare=maria,
            count=max(5, LOOKUPS // 3),
            served=False,
        )
    finally:
        maria.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE `{name}`"))
        admin.dispose()
    return rows
