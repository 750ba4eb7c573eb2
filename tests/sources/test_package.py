"""The data package: data.json, CSVs and report.html in a zip, and its encryption at rest."""

from __future__ import annotations

import asyncio
import csv
import html as html_module
import io
import json
import re
import sqlite3
import stat
import tempfile
import threading
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import pytest

from app.core import clock
from app.core.brand import Brand
from app.core.config import Settings
from app.packages import PackageError, stream_json, stream_zip, zip_package
from app.packages.crypto import Sealing, unseal
from app.packages.csv_spool import IN_MEMORY, Spool
from app.packages.json_writer import JsonWriter
from app.packages.report_html import REPORT_ROWS, Reader, report_html
from app.packages.stores.file import FileStore
from app.packages.zip_package import SMALL_PACKAGE_ROWS
from app.packages.zip_stream import CHUNK
from app.sources import DataSources, Identity, SourceError

from ..english import english_words_in
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


async def test_zip_from_a_read_already_begun_is_the_zip_of_its_own_read(
    shop: DataSources, remote: HttpSourceServer
) -> None:
    """The access package job looks at the first records of its one read, then hands the read on: the package
    holds the same entries, data.json and CSVs as one built from a read of its own."""
    remote.data["cus_1"] = {"points": [{"balance": 120}]}
    own = zipfile.ZipFile(io.BytesIO(await joined(stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER))))

    reading = shop.collect_batches(ADA)
    first = await anext(reading)

    async def handed_on() -> AsyncIterator[tuple[str, str, list[dict[str, Any]]]]:
        yield first
        async for batch in reading:
            yield batch

    begun = zipfile.ZipFile(
        io.BytesIO(
            await joined(stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER, batches=handed_on()))
        )
    )

    assert begun.namelist() == own.namelist()
    for name in own.namelist():
        if name.endswith(".csv"):
            assert begun.read(name) == own.read(name), name
    documents = [json.loads(archive.read("data.json")) for archive in (own, begun)]
    for document in documents:
        del document["generated_at"]
    assert documents[0] == documents[1]
    assert documents[1]["sources"]["loyalty"] == {"points": [{"balance": 120}]}


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


async def c1_package(
    tmp_path: Path, entity: str, columns: str, rows: list[tuple[Any, ...]], *, fields: str = ""
) -> zipfile.ZipFile:
    """The zip package of customer c1 from a SQLite source whose one entity ``entity`` (its SQL ``columns``,
    ``customer_id`` among them; ``fields``: more of its YAML) holds ``rows``; c2 exists too."""
    return await c1_package_of(tmp_path, {entity: (columns, rows)}, fields=fields)


async def c1_package_of(
    tmp_path: Path, tables: dict[str, tuple[str, list[tuple[Any, ...]]]], *, fields: str = ""
) -> zipfile.ZipFile:
    """:func:`c1_package` with an entity per table of ``tables`` (``{entity: (columns, rows)}``), in that order."""
    sources = c1_shop(tmp_path, tables, fields=fields)
    try:
        package = await joined(
            stream_zip(sources, Identity.of(customer_id="c1"), request=REQUEST, customer=CUSTOMER)
        )
    finally:
        await sources.aclose()
    archive = zipfile.ZipFile(io.BytesIO(package))
    assert archive.testzip() is None
    return archive


def c1_shop(
    tmp_path: Path, tables: dict[str, tuple[str, list[tuple[Any, ...]]]], *, fields: str = ""
) -> DataSources:
    """The SQLite source of :func:`c1_package_of`: customers c1 and c2, an entity per table of ``tables``."""
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT, email TEXT)")
        conn.execute("INSERT INTO customers VALUES ('c1', 'c1@example.com'), ('c2', 'c2@example.com')")
        for entity, (columns, rows) in tables.items():
            conn.execute(f"CREATE TABLE {entity} ({columns})")
            conn.executemany(f"INSERT INTO {entity} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    entities = "".join(
        f"      - {{name: {entity}, table: {entity}, match: {{customer_id: customer_id}}, erase: delete{fields}}}\n"
        for entity in tables
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
{entities}""",
    )
    return DataSources.from_file(path, secret_key=SECRET)


async def test_report_shows_the_first_records_and_the_files_hold_every_one(tmp_path: Path) -> None:
    total = 2 * 1000 + 345  # more than one batch of rows
    archive = await c1_package(
        tmp_path,
        "events",
        "id INTEGER, customer_id TEXT, note TEXT, amount REAL",
        [(i, "c1", f'<b>note {i}</b>, "quoted"\nline', i / 4) for i in range(total)]
        + [(total + i, "c2", "someone else", 0.5) for i in range(10)],
        fields=", purpose: Support",
    )
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


@pytest.fixture
def spooled_to_disk(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread of each temp file a spool opens (the standard library's call, watched)."""
    threads: list[int] = []
    opened = tempfile.TemporaryFile

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return opened(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", watched)
    return threads


async def test_a_few_records_larger_than_a_spool_keeps_in_memory_are_whole(
    tmp_path: Path, spooled_to_disk: list[int]
) -> None:
    # Its one batch of few records is packed in the event loop, where nothing goes to disk: the spool grows past
    # IN_MEMORY there and stays in memory (the package's end is then built on its thread).
    count = SMALL_PACKAGE_ROWS // 2
    note = "y" * (2 * IN_MEMORY // count)
    archive = await c1_package(
        tmp_path,
        "notes",
        "id INTEGER, customer_id TEXT, note TEXT",
        [(i, "c1", f"{i}:{note}") for i in range(count)],
    )
    expected = [{"id": i, "customer_id": "c1", "note": f"{i}:{note}"} for i in range(count)]
    assert json.loads(archive.read("data.json"))["sources"]["app"]["notes"] == expected
    rows = list(csv.DictReader(io.StringIO(archive.read("app/notes.csv").decode(), newline="")))
    assert rows == [{key: str(value) for key, value in record.items()} for record in expected]
    assert spooled_to_disk == []


async def test_a_package_that_outgrows_the_event_loop_is_whole(
    tmp_path: Path, spooled_to_disk: list[int]
) -> None:
    # The first entity's few rows are packed in the event loop; the second's many, larger than a spool keeps
    # in memory, on the package's thread, where its spool moves to disk.
    many = SMALL_PACKAGE_ROWS + 50
    note = "z" * (2 * IN_MEMORY // many)
    archive = await c1_package_of(
        tmp_path,
        {
            "orders": (
                "id INTEGER, customer_id TEXT, total REAL",
                [(1, "c1", 9.5), (2, "c1", 3.25), (3, "c2", 1.0)],
            ),
            "notes": (
                "id INTEGER, customer_id TEXT, note TEXT",
                [(i, "c1", f"{i}:{note}") for i in range(many)] + [(many, "c2", "x")],
            ),
        },
    )
    orders = [{"id": 1, "customer_id": "c1", "total": 9.5}, {"id": 2, "customer_id": "c1", "total": 3.25}]
    notes = [{"id": i, "customer_id": "c1", "note": f"{i}:{note}"} for i in range(many)]
    assert json.loads(archive.read("data.json"))["sources"]["app"] == {"orders": orders, "notes": notes}
    for entity, expected in (("orders", orders), ("notes", notes)):
        rows = list(csv.DictReader(io.StringIO(archive.read(f"app/{entity}.csv").decode(), newline="")))
        assert rows == [{key: str(value) for key, value in record.items()} for record in expected]
    report = archive.read("report.html").decode()
    assert f"notes ({many:,} records)" in report
    assert "orders (2 records)" in report
    # The notes' spool went to disk, on the package's thread, never on the event loop's.
    assert spooled_to_disk
    assert threading.get_ident() not in spooled_to_disk


async def test_a_package_cancelled_on_its_thread_is_closed_there_once_its_step_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A package grown past the event loop does its blocking work on its own thread. Cancelled while a step is
    # under way there (a slow disk: its spool opening a temp file), it is closed on that same thread once the
    # step is done, never from another thread meanwhile; its temp files are closed, and the source's
    # connection is released.
    many = SMALL_PACKAGE_ROWS + 50
    note = "z" * (2 * IN_MEMORY // many)
    shop = c1_shop(
        tmp_path,
        {"notes": ("id INTEGER, customer_id TEXT, note TEXT", [(i, "c1", note) for i in range(many)])},
    )
    events: list[tuple[str, int]] = []
    spooled: list[IO[bytes]] = []
    spilling, release = threading.Event(), threading.Event()
    opened, closing = tempfile.TemporaryFile, zip_package.ZipPackage.close

    def slow_temp_file(*args: Any, **kwargs: Any) -> Any:
        events.append(("spill", threading.get_ident()))
        spilling.set()
        release.wait(5)
        file = opened(*args, **kwargs)
        spooled.append(file)
        events.append(("spilled", threading.get_ident()))
        return file

    def watched_close(package: zip_package.ZipPackage) -> None:
        events.append(("close", threading.get_ident()))
        closing(package)

    monkeypatch.setattr(tempfile, "TemporaryFile", slow_temp_file)
    monkeypatch.setattr(zip_package.ZipPackage, "close", watched_close)
    try:
        reading = asyncio.create_task(
            joined(stream_zip(shop, Identity.of(customer_id="c1"), request=REQUEST, customer=CUSTOMER))
        )
        assert await asyncio.to_thread(spilling.wait, 5)
        reading.cancel()
        await asyncio.sleep(0.05)  # the cancellation has reached the package; its step is still under way
        assert [name for name, _ in events] == ["spill"]
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert [name for name, _ in events] == ["spill", "spilled", "close"]
        threads = {thread for _, thread in events}
        assert len(threads) == 1
        assert threading.get_ident() not in threads
        assert spooled
        assert all(file.closed for file in spooled)
        # The read was closed with the package: the same source answers the next package whole.
        archive = zipfile.ZipFile(
            io.BytesIO(
                await joined(
                    stream_zip(shop, Identity.of(customer_id="c1"), request=REQUEST, customer=CUSTOMER)
                )
            )
        )
        assert len(json.loads(archive.read("data.json"))["sources"]["app"]["notes"]) == many
    finally:
        release.set()
        await shop.aclose()


async def test_a_report_longer_than_a_block_of_the_zip_is_whole(tmp_path: Path) -> None:
    archive = await c1_package(
        tmp_path,
        "notes",
        "id INTEGER, customer_id TEXT, note TEXT",
        [(i, "c1", f"start-{i} " + "x" * 600 + f" end-{i}") for i in range(REPORT_ROWS)],
    )
    report = archive.read("report.html").decode()
    assert len(report) > 2 * CHUNK  # written in several blocks
    assert report.startswith("<!DOCTYPE html>")
    assert report.rstrip().endswith("</html>")
    assert report.count("<tr><td>") == REPORT_ROWS
    for i in range(REPORT_ROWS):
        assert f"start-{i} " in report
        assert f" end-{i}<" in report


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
    assert "<h2>Loyalty points (4 records)</h2>" in report  # the remote entity's title
    assert "<td>gold</td>" in report
    assert "[{&#34;at&#34;: &#34;2024&#34;}]" in report


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


async def write_encrypted(path: Path, chunks: AsyncIterator[bytes]) -> int:
    """Encrypt the chunks into the file ``path`` as the package store does; the plaintext size."""
    sealing = Sealing(chunks, secret_key=SECRET)
    await FileStore(path.parent).put(path.name, sealing)
    return sealing.plaintext_size


def read_encrypted(path: Path, *, secret_key: str = SECRET) -> AsyncIterator[bytes]:
    """The decrypted package file, as the package store reads it."""
    return unseal(FileStore(path.parent).read(str(path)), secret_key=secret_key, name=path.name)


async def encrypt(path: Path, payload: bytes) -> int:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 10_000):
            yield payload[start : start + 10_000]

    return await write_encrypted(path, chunks())


async def test_encrypted_package_round_trips(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1000  # several frames
    path = tmp_path / "package.bin"

    assert await encrypt(path, payload) == len(payload)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert payload[:4096] not in path.read_bytes()
    assert await joined(read_encrypted(path)) == payload
    empty = tmp_path / "empty.bin"
    assert await encrypt(empty, b"") == 0
    assert await joined(read_encrypted(empty)) == b""


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
        await joined(read_encrypted(path))


async def test_wrong_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "package.bin"
    await encrypt(path, b"personal data")
    with pytest.raises(PackageError, match="failed authentication"):
        await joined(read_encrypted(path, secret_key="another-secret-key-0123456789"))


async def test_zip_through_encryption(shop: DataSources, tmp_path: Path) -> None:
    path = tmp_path / "package.zip.enc"
    size = await write_encrypted(path, stream_zip(shop, ADA, request=REQUEST, customer=CUSTOMER))
    package = await joined(read_encrypted(path))
    assert len(package) == size
    assert "data.json" in zipfile.ZipFile(io.BytesIO(package)).namelist()


BRAND = Brand(
    name="Nordwind Shop",
    url="https://nordwind.example",
    privacy_policy_url="https://nordwind.example/datenschutz",
    controller_address="Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
    dpo_email="datenschutz@nordwind.example",
    authority_name="Der Hamburgische Beauftragte für Datenschutz",
    authority_url="https://datenschutz-hamburg.de",
)


@pytest.fixture
def described_shop(tmp_path: Path) -> DataSources:
    """A shop whose entities say everything Art. 15 asks, in English and German, and one that says nothing."""
    db = tmp_path / "described.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id TEXT, email TEXT, first_name TEXT)")
        conn.execute("CREATE TABLE orders (id INTEGER, customer_id TEXT, email TEXT, total REAL)")
        conn.execute("CREATE TABLE order_items (id INTEGER, order_id INTEGER, sku TEXT)")
        conn.execute("CREATE TABLE scores (id INTEGER, customer_id TEXT, score INTEGER)")
        conn.execute("CREATE TABLE wishlist (id INTEGER, customer_id TEXT, sku TEXT)")
        conn.execute("INSERT INTO customers VALUES ('c1', 'ada@example.com', 'Ada')")
        conn.executemany(
            "INSERT INTO orders VALUES (?, 'c1', 'ada@example.com', ?)",
            [(i, i * 10.5) for i in range(1, 1235)],
        )
        conn.execute("INSERT INTO order_items VALUES (1, 1, 'SKU-1')")
        conn.execute("INSERT INTO scores VALUES (1, 'c1', 7)")
    path = write_sources(
        tmp_path,
        f"""\
sources:
  - name: crm
    type: sql
    url: sqlite:///{db}
    directory: {{table: customers, id: id, email: email, name: [first_name]}}
    entities:
      - name: customers
        table: customers
        match: {{id: customer_id}}
        erase: delete
        title: {{en: Customer account, de: Kundenkonto}}
        purpose: {{en: To run your account, de: Um Ihr Konto zu führen}}
        categories: [{{en: contact data, de: Kontaktdaten}}]
        source_of_data: {{en: 'You, when you signed up', de: Sie selbst bei der Anmeldung}}
      - name: orders
        table: orders
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{email: hash}}}}
        title: {{en: Orders, de: Bestellungen}}
        purpose: {{en: To deliver what you bought, de: Um Ihre Einkäufe zu liefern}}
        recipients: [{{en: our parcel service, de: unser Paketdienst}}, {{en: our tax advisor, de: unser Steuerberater}}]
        retention: {{en: Orders are kept 10 years for tax law., de: Bestellungen werden 10 Jahre für das Steuerrecht aufbewahrt.}}
        retention_basis: legal_obligation
        transfers: {{en: Parcel tracking in the USA under the EU standard contractual clauses, de: Sendungsverfolgung in den USA auf Grundlage der EU-Standardvertragsklauseln}}
      - name: order_items
        table: order_items
        match: {{order_id: orders.id}}
        erase: keep
        title: {{en: Invoice lines, de: Rechnungspositionen}}
        retention: {{en: Invoice lines are kept 10 years., de: Rechnungspositionen werden 10 Jahre aufbewahrt.}}
        retention_basis: legal_obligation
      - name: scores
        table: scores
        match: {{customer_id: customer_id}}
        erase: delete
        title: {{en: Fraud score, de: Betrugsrisiko}}
        automated_decisions: {{en: A score decides whether you may pay by invoice, de: 'Ein Wert entscheidet, ob Sie auf Rechnung zahlen dürfen'}}
      - name: wishlist
        table: wishlist
        match: {{customer_id: customer_id}}
        erase: delete
""",
    )
    return DataSources.from_file(path, secret_key=SECRET)


async def report_for(sources: DataSources, locale: str) -> str:
    request = REQUEST | {"due_at": "2025-01-31T23:00:00+00:00"}
    reader = Reader(locale=locale, timezone="Europe/Berlin", brand=BRAND)
    try:
        package = await joined(
            stream_zip(
                sources, Identity.of(customer_id="c1"), request=request, customer=CUSTOMER, reader=reader
            )
        )
    finally:
        await sources.aclose()
    return zipfile.ZipFile(io.BytesIO(package)).read("report.html").decode()


def visible_text(html: str) -> str:
    """The words a customer reads, one space between them (tags, styles and entities resolved)."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.DOTALL)
    html = re.sub(r"</?(?:a|code|strong|span)\b[^>]*>", "", html)  # inline: no break in the text
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize(
    ("locale", "facts"),
    [
        (
            "en",
            [
                "Nordwind Shop Your personal data",
                "This is a copy of the personal data Nordwind Shop holds about you",
                "Received 1 January 2025, 01:00 CET",
                "Answer due by 1 February 2025",
                "Regulation GDPR",
                "Copy made 2 January 2025, 10:30 CET",
                "Controller Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
                "Data protection officer datenschutz@nordwind.example",
                "The authority responsible for us is Der Hamburgische Beauftragte für Datenschutz.",
                "Customer account (1 record) Purpose To run your account Categories of data contact data",
                "Where the data comes from You, when you signed up",
                "Orders (1,234 records) Purpose To deliver what you bought "
                "Recipients our parcel service, our tax advisor "
                "How long it is kept Orders are kept 10 years for tax law. "
                "Legal basis for keeping it a legal obligation",
                "Transfers to third countries Parcel tracking in the USA under the EU standard contractual clauses",
                "If you ask us to erase your data pseudonymised",
                "Invoice lines (1 record)",
                "Automated decision-making A score decides whether you may pay by invoice",
                "1,034 more records are in crm/orders.csv and data.json.",
            ],
        ),
        (
            "de",
            [
                "Nordwind Shop Ihre personenbezogenen Daten",
                "Eingegangen 1. Januar 2025, 01:00 MEZ",
                "Antwort fällig bis 1. Februar 2025",
                "Rechtsrahmen DSGVO",
                "Kopie erstellt 2. Januar 2025, 10:30 MEZ",
                "Verantwortlicher Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
                "Kundenkonto (1 Datensatz) Zweck Um Ihr Konto zu führen Datenkategorien Kontaktdaten",
                "Herkunft der Daten Sie selbst bei der Anmeldung",
                "Bestellungen (1.234 Datensätze) Zweck Um Ihre Einkäufe zu liefern "
                "Empfänger unser Paketdienst, unser Steuerberater "
                "Speicherdauer Bestellungen werden 10 Jahre für das Steuerrecht aufbewahrt. "
                "Rechtsgrundlage der Aufbewahrung eine rechtliche Verpflichtung",
                "Übermittlung in Drittländer Sendungsverfolgung in den USA",
                "Wenn Sie die Löschung verlangen pseudonymisiert",
                "Automatisierte Entscheidungsfindung Ein Wert entscheidet",
                "1.034 weitere Datensätze stehen in crm/orders.csv und data.json.",
            ],
        ),
    ],
)
async def test_the_report_is_in_the_request_language_with_the_brand_and_art_15(
    described_shop: DataSources, locale: str, facts: list[str]
) -> None:
    clock.freeze(datetime(2025, 1, 2, 9, 30, 15, 123456, tzinfo=UTC))
    report = await report_for(described_shop, locale)
    assert report.startswith(f'<!DOCTYPE html>\n<html lang="{locale}">')
    text = visible_text(report)
    for fact in facts:
        assert fact in text
    # The brand and its controller come before the data.
    assert report.index("Nordwind Handels GmbH") < report.index("<table>")
    # An entity without records is not listed; what the brand did not state is left out, not invented.
    assert "wishlist" not in text
    for invention in ("not stated", "until you ask", "nicht angegeben"):
        assert invention not in text
    assert report.count("<dt>{}</dt>".format({"en": "Recipients", "de": "Empfänger"}[locale])) == 1
    # Dates as a person writes them: no seconds, no microseconds, no ISO stamps.
    assert ".123456" not in report
    assert "T00:00:00" not in report
    # Titles head the sections and the tables; the column names are shown as they are, under them.
    headings = [line for line in report.splitlines() if line.startswith("<h2>")]
    assert not [h for h in headings if re.search(r"\b(orders|order_items|scores|customers)\b", h)]
    assert "<caption>" in report
    assert "<th>customer_id</th>" in report


async def test_no_english_is_left_in_a_german_report(described_shop: DataSources) -> None:
    report = await report_for(described_shop, "de")
    # Not prose: the records and their column names, file names, and the brand's own strings.
    prose = re.sub(r"<table>.*?</table>|<code>.*?</code>|<style>.*?</style>", " ", report, flags=re.DOTALL)
    prose = prose.replace("data.json", " ")
    for value in BRAND.as_context().values():
        if value:
            prose = prose.replace(value, " ")
    assert english_words_in(prose) == []


async def test_the_report_is_handed_out_in_pieces(described_shop: DataSources, tmp_path: Path) -> None:
    spool = Spool(tmp_path, {"crm": ["orders"]}, samples=REPORT_ROWS)
    spool.add("crm", "orders", [{"id": i, "note": f"n{i}"} for i in range(REPORT_ROWS * 2)])
    page = report_html(spool, described_shop.describe(), request=REQUEST, customer=None)
    first = next(page)
    assert first.startswith("<!DOCTYPE html>")
    rest = list(page)
    # Jinja's generate(): the rows arrive as many small pieces, not as one string built in memory.
    assert len(rest) > REPORT_ROWS
    assert "".join(rest).count("<tr><td>") == REPORT_ROWS
    await described_shop.aclose()


def test_each_page_has_its_own_brand_and_language_however_many_a_process_writes(tmp_path: Path) -> None:
    # The parts of the page that depend only on the brand and the language are put together once per process;
    # pages for two brands in two languages, written in turn, each show their own, escaped once.
    other = Brand(name="Kiosk <Süd> & Co", controller_address="Kiosk Süd KG, Marktplatz 2")
    spool = Spool(tmp_path, {"crm": ["orders"]}, samples=REPORT_ROWS)
    spool.add("crm", "orders", [{"id": 1, "note": "n1"}])
    pages = {
        (brand.name, locale): "".join(
            report_html(spool, [], request=REQUEST, customer=None, reader=Reader(locale=locale, brand=brand))
        )
        for _ in range(2)
        for brand in (BRAND, other)
        for locale in ("en", "de")
    }
    for (name, locale), page in pages.items():
        assert page.startswith(f'<!DOCTYPE html>\n<html lang="{locale}">')
        text = visible_text(page)
        shown, hidden = (BRAND, other) if name == BRAND.name else (other, BRAND)
        assert (
            f"{shown.name} {'Your personal data' if locale == 'en' else 'Ihre personenbezogenen Daten'}"
            in text
        )
        assert cast(str, shown.controller_address) in text
        assert cast(str, hidden.name) not in text
        assert cast(str, hidden.controller_address) not in text
        assert ("Your rights" in text) is (locale == "en")
        assert ("Ihre Rechte" in text) is (locale == "de")
    kiosk = pages[(other.name, "de")]
    assert "Kiosk &lt;Süd&gt; &amp; Co" in kiosk
    assert "&amp;lt;" not in kiosk
    # What only Nordwind states (its officer, its authority) is on Nordwind's pages alone.
    assert "datenschutz@nordwind.example" in pages[(BRAND.name, "en")]
    assert "datenschutz@nordwind.example" not in pages[(other.name, "en")]
    assert "Hamburgische" not in kiosk


def test_the_reader_of_a_request_has_the_configured_brand_and_zone() -> None:
    settings = Settings(_env_file=None, brand_name="Nordwind Shop", timezone="Europe/Berlin")
    reader = Reader.of(settings, "de")
    assert (reader.locale, reader.timezone, reader.brand.name) == ("de", "Europe/Berlin", "Nordwind Shop")


def test_data_json_written_in_batches_is_one_document_with_every_value() -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    first = [{"id": 1, "note": 'Grüße, "quoted"', "at": when}, {"id": 2, "nested": {"a": [1, 2]}}]
    second = ({"id": n, "amount": n / 4} for n in range(3, 6))  # any iterable of items
    # Beyond what orjson encodes: an integer past 64 bits, a key that is not text.
    third = [{"id": 6, "big": 2**70, "by_year": {2024: "x"}}]
    writer = JsonWriter()
    pieces = [
        writer.open_object(),
        writer.member("customer", None),
        writer.open_array("orders"),
        writer.items(first),
        writer.items([]),  # an empty batch adds nothing, not a stray comma
        writer.items(second),
        writer.items(third),
        writer.close(),
        writer.open_array("tickets"),
        writer.items([]),
        writer.close(),
        writer.close(),
    ]
    document = b"".join(pieces)
    whole = {
        "customer": None,
        "orders": [*first, *({"id": n, "amount": n / 4} for n in range(3, 6)), *third],
        "tickets": [],
    }
    # The same values as the standard library writes them (a time as its str(), big numbers exactly), compact.
    assert json.loads(document) == json.loads(json.dumps(whole, ensure_ascii=False, default=str))
    assert b'"at":"2024-05-01 12:30:00+00:00"' in document
    assert b'"big":1180591620717411303424' in document
    assert "Grüße".encode() in document  # UTF-8, not \u escapes
    assert document.startswith(b'{"customer":null,"orders":[{"id":1,"note":')  # compact, no spaces
