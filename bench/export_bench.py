"""Export benchmark (a script, not a test): one customer with 200,000 orders, exported as a zip package.

    .venv/bin/python bench/export_bench.py [--rows 200000] [--repeat 1]

Prints the export's time, rows/s and the process's peak RSS, and a baseline: a bare SELECT of the same rows
written to CSV with the csv module. Peak RSS is read right after the (first) export, before the baseline, so
it is the package path's figure. With ``--repeat N`` each is run N times, alternately, and the best time of
each is printed (on a busy machine single runs vary a lot).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from app.packages import stream_zip
from app.sources import DataSources, Identity

SOURCES = """\
sources:
  - name: shop
    type: sql
    url: sqlite:///{db}
    directory: {{table: customers, id: id, email: email, name: [name]}}
    entities:
      - {{name: customers, table: customers, match: {{id: customer_id}}, erase: delete}}
      - {{name: orders, table: orders, match: {{customer_id: customer_id}}, erase: delete}}
"""


def build(db: Path, rows: int, others: int) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT)")
        conn.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, ordered_at TEXT, total NUMERIC, "
            "status TEXT, shipping_address TEXT)"
        )
        conn.execute("CREATE INDEX ix_orders_customer_id ON orders (customer_id)")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(f"c{i}", f"c{i}@example.com", f"Customer {i}") for i in range(others + 1)],
        )
        conn.executemany(
            "INSERT INTO orders (customer_id, ordered_at, total, status, shipping_address) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    "c0" if i < rows else f"c{1 + i % others}",
                    f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+00:00",
                    f"{(i % 9000) / 100:.2f}",
                    "delivered",
                    f"Street {i % 300}, 10115 Berlin",
                )
                for i in range(rows + others * 10)
            ),
        )


def peak_rss_mib() -> float:
    # Linux: VmHWM is this process's own peak. ru_maxrss is not: Linux carries it over from the parent
    # through fork and exec, so run from a big parent (bench/run_all.py) it reported the parent's peak.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


async def export(sources_file: Path, out: Path) -> int:
    sources = DataSources.from_file(sources_file, secret_key="bench-secret-key-0123456789")
    try:
        size = 0
        with out.open("wb") as target:
            chunks = stream_zip(
                sources, Identity.of(customer_id="c0"), request={"id": "bench"}, customer=None
            )
            async for chunk in chunks:
                target.write(chunk)
                size += len(chunk)
        return size
    finally:
        await sources.aclose()


def baseline(db: Path, out: Path) -> int:
    with sqlite3.connect(db) as conn, out.open("w", newline="") as target:
        cursor = conn.execute("SELECT * FROM orders WHERE customer_id = 'c0'")
        writer = csv.writer(target)
        writer.writerow([d[0] for d in cursor.description])
        count = 0
        for row in cursor:
            writer.writerow(row)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best time is printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        db = work / "shop.db"
        build(db, args.rows, args.others)
        sources_file = work / "sources.yaml"
        sources_file.write_text(SOURCES.format(db=db))
        rss_before = peak_rss_mib()
        rss_export = 0.0
        export_seconds = baseline_seconds = float("inf")
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            size = asyncio.run(export(sources_file, work / "package.zip"))
            export_seconds = min(export_seconds, time.perf_counter() - started)
            rss_export = rss_export or peak_rss_mib()

            started = time.perf_counter()
            count = baseline(db, work / "baseline.csv")
            baseline_seconds = min(baseline_seconds, time.perf_counter() - started)

    print(f"rows exported:        {args.rows:,} (plus {args.others:,} other customers' rows untouched)")
    print(
        f"package (zip):        {size / 1e6:.1f} MB in {export_seconds:.2f} s = {args.rows / export_seconds:,.0f} rows/s"
    )
    print(
        f"baseline SELECT->CSV: {count:,} rows in {baseline_seconds:.2f} s = {count / baseline_seconds:,.0f} rows/s"
    )
    print(f"ratio export/baseline: {export_seconds / baseline_seconds:.2f}x slower")
    print(
        f"peak RSS:             {rss_before:.0f} MiB after building the database, {rss_export:.0f} MiB after the export"
    )


if __name__ == "__main__":
    main()
