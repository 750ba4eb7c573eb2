"""The data package: data.json, CSVs and report.html in a zip, and its encryption at rest."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import stat
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.packages import (
    PackageError,
    read_encrypted_package,
    stream_json,
    stream_zip,
    write_encrypted_package,
)
from app.packages.csv_spool import Spool
from app.packages.report_html import REPORT_ROWS
from app.sources import DataSources, Identity, SourceError

from .factories import SECRET, write_sources
from .http_source import HttpSourceServer

ADA = Identity.of(customer_id="cus_1", email="ada@example.com")
REQUEST = {"id": "3f1c", "type": "access", "regulation": "gdpr", "received_at": "2025-01-01T00:00:00+00:00"}
CUSTOMER = {"id": "cus_1", "email": "Ada@Example.com", "name": "Ada Lovelace <script>"}


async def joined(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_json_holds_every_entity_and_only_the_customer(
    shop: DataSources, remote: HttpSourceServer
) -> None:
    remote.data["cus_2"] = {"points": [{"balance": 5}]}
    document = json.loads(await joined(stream_json(shop, ADA, request=REQUEST, customer=CUSTOMER)))

    assert document["request"] == REQUEST
    assert document["customer"] == CUSTOMER
    assert document["generated_at"].endswith("+00:00")
    sources = document["sources"]
    assert set(sources) == {"crm", "loyalty"}
    assert set(sources["crm"]) == {"customers", "orders", "order_items", "newsletter", "devices"}
    assert sources["loyalty"] == {"points": []}  # configured, nothing held: present and empty
    assert sorted(r["id"] for r in sources["crm"]["order_items"]) == [100, 101, 102]
    assert "cus_2" not in json.dumps(sources)
    assert "bob" not in json.dumps(sources)


async def test_json_for_someone_unknown_lists_every_entity_empty(shop: DataSources) -> None:
    document = json.loads(
        await joined(stream_json(shop, Identity.of(email="x@example.com"), request=REQUEST, customer=None))
    )
    assert document["customer"] is None
    assert document["sources"] == {
        "crm": {"customers": [], "orders": [], "order_items": [], "newsletter": [], "devices": []},
        "loyalty": {"points": []},
    }


async def test_zip_holds_json_csvs_and_report(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.data["cus_1"] = {"points": [{"balance": 120, "history": [1, 2]}]}
    package = await joined(stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER))

    archive = zipfile.ZipFile(io.BytesIO(package))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "crm/customers.csv",
        "crm/devices.csv",
        "crm/newsletter.csv",
        "crm/order_items.csv",
        "crm/orders.csv",
        "data.json",
        "loyalty/points.csv",
        "report.html",
    ]
    document = json.loads(archive.read("data.json"))
    streamed = json.loads(await joined(stream_json(shop, ADA, request=REQUEST, customer=CUSTOMER)))
    assert document["sources"] == streamed["sources"]

    orders = list(csv.DictReader(io.StringIO(archive.read("crm/orders.csv").decode())))
    assert sorted(row["id"] for row in orders) == ["10", "11"]
    assert {row["address"] for row in orders} == {"1 Analytical St"}
    points = list(csv.DictReader(io.StringIO(archive.read("loyalty/points.csv").decode())))
    assert points == [{"balance": "120", "history": "[1, 2]"}]
    assert archive.read("crm/devices.csv").decode().splitlines() == [
        "id,customer_id,token",
        "1,cus_1,tok-ada",
    ]

    report = archive.read("report.html").decode()
    assert "Lovelace &lt;script&gt;" in report
    assert "<script>" not in report
    assert "Invoices are kept 7 years for tax law" in report
    assert "Customer account" in report
    assert "tax advisor" in report
    assert "more records are in" not in report  # everything fits: nothing is cut
    for right in (
        "Rectification",
        "Erasure",
        "Restriction",
        "Portability",
        "Objection",
        "supervisory authority",
    ):
        assert right in report


async def test_report_shows_the_first_records_and_the_files_hold_every_one(tmp_path: Path) -> None:
    total = 2 * 1000 + 345  # more than one batch of rows
    db = tmp_path / "big.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT, email TEXT)")
        conn.execute("CREATE TABLE events (id INTEGER, customer_id TEXT, note TEXT, amount REAL)")
        conn.execute("INSERT INTO customers VALUES ('c1', 'c1@example.com'), ('c2', 'c2@example.com')")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            [(i, "c1", f'<b>note {i}</b>, "quoted"\nline', i / 4) for i in range(total)]
            + [(total + i, "c2", "someone else", 0.5) for i in range(10)],
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
      - {{name: events, table: events, match: {{customer_id: customer_id}}, erase: delete, purpose: Support}}
""",
    )
    sources = DataSources.from_file(path, secret_key=SECRET)
    try:
        package = await joined(
            stream_zip(sources, Identity.of(customer_id="c1"), request=REQUEST, customer=CUSTOMER)
        )
    finally:
        await sources.aclose()

    archive = zipfile.ZipFile(io.BytesIO(package))
    assert archive.testzip() is None
    expected = [
        {"id": i, "customer_id": "c1", "note": f'<b>note {i}</b>, "quoted"\nline', "amount": i / 4}
        for i in range(total)
    ]
    assert json.loads(archive.read("data.json"))["sources"]["app"]["events"] == expected
    rows = list(csv.DictReader(io.StringIO(archive.read("app/events.csv").decode(), newline="")))
    assert rows == [{key: str(value) for key, value in record.items()} for record in expected]

    report = archive.read("report.html").decode()
    assert f"events ({total:,} records)" in report
    assert report.count("<tr><td>") == REPORT_ROWS
    assert f"<td>{REPORT_ROWS - 1}</td>" in report
    assert f"<td>{REPORT_ROWS}</td>" not in report
    assert (
        f"{total - REPORT_ROWS:,} more records are in <code>app/events.csv</code> and <code>data.json</code>."
    ) in report
    assert "&lt;b&gt;note 0&lt;/b&gt;" in report
    assert "<b>" not in report
    assert "someone else" not in report


async def test_records_with_differing_keys_fill_every_column(
    shop: DataSources, remote: HttpSourceServer
) -> None:
    remote.data["cus_1"] = {
        "points": [{"balance": 1}, {"tier": "gold", "balance": 2}, {"history": [{"at": "2024"}]}, {}]
    }
    archive = zipfile.ZipFile(io.BytesIO(await joined(stream_zip(shop, ADA, request=REQUEST, customer=None))))
    assert archive.read("loyalty/points.csv").decode().splitlines() == [
        "balance,tier,history",
        "1,,",
        "2,gold,",
        ',,"[{""at"": ""2024""}]"',
        ",,",
    ]
    report = archive.read("report.html").decode()
    assert "<td>gold</td>" in report
    assert "[{&quot;at&quot;: &quot;2024&quot;}]" in report


async def test_a_source_failing_midway_fails_the_package(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.fail_next = 100  # the loyalty source, read after the SQL rows, answers 500 to every retry
    chunks = stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER)
    with pytest.raises(SourceError, match="loyalty"):
        await joined(chunks)


async def test_a_reader_stopping_early_closes_the_package(shop: DataSources) -> None:
    chunks = stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER)
    assert isinstance(chunks, AsyncGenerator)
    assert (await anext(chunks)).startswith(b"PK")
    await chunks.aclose()
    # The sources are still usable: the cursor and connection were released.
    assert json.loads(await joined(stream_json(shop, ADA, request=REQUEST, customer=None)))["sources"]["crm"]


def test_spool_pads_rows_written_before_a_column_appeared(tmp_path: Path) -> None:
    spool = Spool(tmp_path, {"remote": ["things"]})
    spool.add("remote", "things", [{"a": 1, "b": "x"}, {"a": 2, "b": None}])
    spool.add("remote", "things", [{"b": "y", "c": [1]}, {"a": 3}])
    spool.add("remote", "other", [{"z": "undeclared"}])

    text = b"".join(spool.csv_chunks("remote", "things")).decode()
    assert text.splitlines() == ["a,b,c", "1,x,", "2,,", ",y,[1]", "3,,"]
    assert b"".join(spool.csv_chunks("remote", "other")).decode().splitlines() == ["z", "undeclared"]
    assert spool.counts[("remote", "things")] == 4
    assert spool.names() == {"remote": ["things", "other"]}


async def encrypt(path: Path, payload: bytes) -> int:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 10_000):
            yield payload[start : start + 10_000]

    return await write_encrypted_package(path, chunks(), secret_key=SECRET)


async def test_encrypted_package_round_trips(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000  # several frames
    path = tmp_path / "package.bin"

    assert await encrypt(path, payload) == len(payload)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert payload[:4096] not in path.read_bytes()
    assert await joined(read_encrypted_package(path, secret_key=SECRET)) == payload
    empty = tmp_path / "empty.bin"
    assert await encrypt(empty, b"") == 0
    assert await joined(read_encrypted_package(empty, secret_key=SECRET)) == b""


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], id="flipped-bit"),
        pytest.param(lambda data: data[: len(data) - 70_000], id="truncated"),
        pytest.param(lambda data: data[:-1], id="last-byte-cut"),
        pytest.param(lambda data: data[:7] + bytes(16) + data[23:], id="salt-replaced"),
    ],
)
async def test_tampering_is_detected(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "package.bin"
    await encrypt(path, b"personal data " * 20_000)
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(PackageError):
        await joined(read_encrypted_package(path, secret_key=SECRET))


async def test_wrong_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "package.bin"
    await encrypt(path, b"personal data")
    with pytest.raises(PackageError, match="failed authentication"):
        await joined(read_encrypted_package(path, secret_key="another-secret-key-0123456789"))


async def test_zip_through_encryption(shop: DataSources, tmp_path: Path) -> None:
    path = tmp_path / "package.zip.enc"
    size = await write_encrypted_package(
        path, stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER), secret_key=SECRET
    )
    package = await joined(read_encrypted_package(path, secret_key=SECRET))
    assert len(package) == size
    assert "data.json" in zipfile.ZipFile(io.BytesIO(package)).namelist()
