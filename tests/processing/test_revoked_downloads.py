"""A processed deletion revokes every download link of that customer (410 at once) and purges their packages
from PACKAGE_DIR (contract section 7); other customers' links keep working."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core.config import Settings
from app.models import Download

from ..helpers import detail, submit
from .world import accept, confirmed_deletion, emails_to, events, link_in, work


async def fulfilled_access(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings, *, email: str
) -> tuple[str, str]:
    """An access request handled automatically; its id and the download link emailed for it (working)."""
    request = await submit(client, keys["app"], type="access", email=email)
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    [ready] = emails_to(settings.mail_dir, email, "ready to download")
    link = link_in(ready, "/v1/downloads/")
    assert (await client.get(link)).status_code == 200
    return str(request["id"]), link


async def package_of(app: FastAPI, request_id: str) -> Path:
    async with app.state.sessionmaker() as session:
        path = await session.scalar(select(Download.path).where(Download.request_id == uuid.UUID(request_id)))
    assert path is not None
    return Path(path)


async def test_a_processed_deletion_revokes_the_customers_links_and_purges_their_packages(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    ada_access, ada_link = await fulfilled_access(client, keys, app, settings, email="ada@example.com")
    grace_access, grace_link = await fulfilled_access(client, keys, app, settings, email="grace@example.com")
    ada_package, grace_package = await package_of(app, ada_access), await package_of(app, grace_access)
    assert ada_package.exists()

    deletion = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    await work(app)

    assert (await detail(client, keys["operator"], deletion))["status"] == "processed"
    gone = await client.get(ada_link)
    assert gone.status_code == 410
    assert gone.json()["error"] == "gone"
    assert not ada_package.exists()
    assert ("package_purged", "system") in await events(client, keys["operator"], ada_access)
    # Another customer's link and package are untouched.
    assert (await client.get(grace_link)).status_code == 200
    assert sorted(settings.package_dir.iterdir()) == [grace_package]


async def test_without_a_customer_the_links_of_that_address_are_revoked(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings, world: Path
) -> None:
    # Not in the directory: the requests are about the address alone (the newsletter list holds it).
    with sqlite3.connect(world / "support.db") as connection:
        connection.execute("INSERT INTO newsletter VALUES (3, 'zoe@example.com', 'monthly')")
    access, link = await fulfilled_access(client, keys, app, settings, email="zoe@example.com")
    package = await package_of(app, access)
    assert (await detail(client, keys["operator"], access))["customer"] is None

    await confirmed_deletion(client, keys, settings.mail_dir, app, email="zoe@example.com")
    await work(app)

    assert (await client.get(link)).status_code == 410
    assert not package.exists()
