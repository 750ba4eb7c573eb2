"""PACKAGE_STORE=s3://bucket/prefix against a real S3-compatible server: packages are encrypted before upload,
served through their link, deleted on expiry and on erasure, and large ones go up in parts."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core import clock
from app.core.config import Settings
from app.models import Download

from ..helpers import submit
from ..processing.world import OTHERS, confirmed_deletion, emails_to, events, link_in, work
from .conftest import PREFIX, S3Server, objects_in


async def access_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings, *, email: str
) -> tuple[str, str]:
    """An access request, accepted at once (AUTO_ACCEPT_ACCESS) and built by the worker: its id and the link the
    customer was emailed."""
    request = await submit(client, keys["app"], type="access", email=email)
    await work(app)
    [ready] = emails_to(settings.mail_dir, email, "ready to download")
    return str(request["id"]), link_in(ready, "/v1/downloads/")


async def stored_at(app: FastAPI, request_id: str) -> str:
    """The download row's ``path``: where the package is."""
    async with app.state.sessionmaker() as session:
        path = await session.scalar(select(Download.path).where(Download.request_id == uuid.UUID(request_id)))
    assert path is not None
    return str(path)


async def test_the_package_is_uploaded_encrypted_and_its_link_serves_the_zip(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
) -> None:
    request_id, link = await access_link(client, keys, app, settings, email="ada@example.com")

    [(key, stored)] = (await objects_in(s3, bucket)).items()
    assert key.startswith(f"{PREFIX}/")
    assert key.endswith(".zip.enc")
    assert await stored_at(app, request_id) == f"s3://{bucket}/{key}"
    # Ciphertext only: not a zip, and none of the customer's data readable in it.
    assert not stored.startswith(b"PK")
    assert not zipfile.is_zipfile(io.BytesIO(stored))
    for plain in (b"ada@example.com", b"Lovelace", b"Analytical Way", b"data.json", b"cus_1"):
        assert plain not in stored
    assert not settings.package_dir.exists() or list(settings.package_dir.iterdir()) == []

    download = await client.get(link)

    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"] == f'attachment; filename="privacy-data-{request_id}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    document = json.loads(archive.read("data.json"))
    assert document["customer"] == {"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace"}
    assert [order["id"] for order in document["sources"]["crm"]["orders"]] == [1, 2]
    assert document["sources"]["loyalty"]["points"][0]["balance"] == 120
    assert {"report.html", "crm/orders.csv"} <= set(archive.namelist())
    assert [other for other in OTHERS if other in download.text] == []
    assert (await client.get(link)).content == download.content  # as often as the customer likes
    assert (await events(client, keys["operator"], request_id))[-1] == ("package_downloaded", "customer")


async def test_an_expired_package_is_deleted_from_the_bucket(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
) -> None:
    request_id, link = await access_link(client, keys, app, settings, email="ada@example.com")
    assert len(await objects_in(s3, bucket)) == 1

    clock.advance(settings.download_ttl + timedelta(seconds=1))
    await work(app)  # the sweep

    assert await objects_in(s3, bucket) == {}
    gone = await client.get(link)
    assert gone.status_code == 410
    assert gone.json() == {"error": "gone", "detail": "This download link has expired."}
    assert ("package_purged", "system") in await events(client, keys["operator"], request_id)


async def test_an_erasure_revokes_the_link_and_deletes_the_package(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    s3: S3Server,
    bucket: str,
) -> None:
    ada_access, ada_link = await access_link(client, keys, app, settings, email="ada@example.com")
    grace_access, grace_link = await access_link(client, keys, app, settings, email="grace@example.com")
    ada_key = (await stored_at(app, ada_access)).removeprefix(f"s3://{bucket}/")
    grace_key = (await stored_at(app, grace_access)).removeprefix(f"s3://{bucket}/")
    assert set(await objects_in(s3, bucket)) == {ada_key, grace_key}

    await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    await work(app)

    assert set(await objects_in(s3, bucket)) == {grace_key}
    gone = await client.get(ada_link)
    assert gone.status_code == 410
    assert gone.json()["detail"] == "This download link no longer works: the data was erased."
    assert ("package_purged", "system") in await events(client, keys["operator"], ada_access)
    assert (await client.get(grace_link)).status_code == 200  # another customer's package is untouched
