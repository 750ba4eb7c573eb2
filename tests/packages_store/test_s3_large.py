"""A package larger than one upload part: it goes up in parts and streams back whole through its link; the
memory an upload takes stays at a few parts, whatever the package's size."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.models import Download
from app.packages.crypto import Sealing
from app.packages.stores.s3 import PART_SIZE, S3Store

from ..factories import write_crm
from ..helpers import detail, submit
from ..processing.world import emails_to, loyalty_yaml, work
from ..sources.http_source import HttpSourceServer
from .conftest import REGION, S3Server, objects_in, s3_client
from .test_s3_store import access_link, stored_at

ORDERS = 16_000


@pytest.fixture
def sources_file(world: Path, remote: HttpSourceServer) -> Path:
    """Ada with 16,000 orders, each with 800 random characters (they hardly compress): a package of about
    20 MB, whose data.json alone is more than one upload part; then the remote loyalty system, read after the
    CRM."""
    path = write_crm(world, extra_sources=loyalty_yaml(remote.url))
    with sqlite3.connect(world / "crm.db") as connection:
        connection.executemany(
            "INSERT INTO orders (id, customer_id, total, shipping_address) VALUES (?, ?, ?, ?)",
            [(1000 + n, "cus_1", n / 100, secrets.token_urlsafe(600)) for n in range(ORDERS)],
        )
    return path


async def test_a_large_package_goes_up_in_parts_and_streams_back(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
) -> None:
    request_id, link = await access_link(client, keys, app, settings, email="ada@example.com")

    key = (await stored_at(app, request_id)).removeprefix(f"s3://{bucket}/")
    async with s3_client(s3) as client_s3:
        head = await client_s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] > PART_SIZE
    parts = int(head["ETag"].strip('"').rpartition("-")[2])  # a multipart upload's ETag ends in -<parts>
    assert (
        2 <= parts <= head["ContentLength"] // PART_SIZE + 1
    )  # parts of PART_SIZE and a bit, the last smaller

    download = await client.get(link)

    assert download.status_code == 200
    async with app.state.sessionmaker() as session:
        size = await session.scalar(select(Download.size).where(Download.request_id == uuid.UUID(request_id)))
    assert len(download.content) == size
    orders = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("data.json"))["sources"]["crm"][
        "orders"
    ]
    assert [order["id"] for order in orders] == [1, 2, *range(1000, 1000 + ORDERS)]


async def test_a_failure_mid_upload_leaves_nothing_in_the_bucket(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
    remote: HttpSourceServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    remote.fail_next = 100  # the loyalty system answers 500, after the CRM's orders have gone up in parts
    request = await submit(client, keys["app"], type="access", email="ada@example.com")

    with caplog.at_level(logging.INFO, logger="werkzeug"):  # the S3 server's access log
        await work(app)

    assert (await detail(client, keys["operator"], request["id"]))["status"] == "failed"
    assert "partNumber=1 " in caplog.text  # the upload was under way when the source failed
    async with s3_client(s3) as client_s3:
        uploads = await client_s3.list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []  # aborted: no parts left behind
    assert await objects_in(s3, bucket) == {}
    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []


@pytest.fixture
def s3_elsewhere() -> Iterator[S3Server]:
    """moto's S3 server in a process of its own: the one in a thread of this process would count the objects it
    keeps among this process's allocations."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "moto's S3 server did not start"
                time.sleep(0.05)
        yield S3Server(port=port)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_an_upload_holds_a_few_parts_in_memory_whatever_the_size(s3_elsewhere: S3Server) -> None:
    size = 8 * PART_SIZE
    async with s3_client(s3_elsewhere) as client_s3:
        await client_s3.create_bucket(
            Bucket="memory", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    store = S3Store(bucket="memory", prefix="", endpoint_url=s3_elsewhere.url, region=REGION)
    piece = os.urandom(256 * 1024)

    async def package() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    async def package_of(data: bytes) -> AsyncIterator[bytes]:
        yield data

    try:
        await store.put("warm-up", package_of(b"x"))  # the client made (and imported) before counting
        tracemalloc.start()
        try:
            stored = await store.put("large.zip.enc", Sealing(package(), secret_key="k" * 32))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await store.aclose()

    assert stored.size > size
    # The part being filled, the one going up and the client's copy of it: about three parts (measured: 3.3),
    # the same for a package of 64 MiB or of 160 MiB.
    assert peak < 4 * PART_SIZE
