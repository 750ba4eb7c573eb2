"""Automatic access through the API and the worker: package built, encrypted at rest, emailed, downloaded,
expired and purged."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import timedelta

import httpx
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings

from ..helpers import detail, submit
from ..sources.http_source import HttpSourceServer
from .world import OTHERS, accept, emails_to, events, link_in, work


async def test_automatic_access_emails_a_link_to_exactly_this_customers_data(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    request = await submit(client, keys["app"], type="access", email="Ada@Example.com", channel="ios")
    accepted = await accept(client, keys["operator"], request["id"], "automatic")
    assert accepted["status"] == "in_progress"

    await work(app)

    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    assert view["processed_at"] is not None
    [ready] = emails_to(settings.mail_dir, "ada@example.com", "ready to download")
    link = link_in(ready, "/v1/downloads/")

    # At rest the package is ciphertext: no zip signature, no customer data in clear.
    [stored] = list(settings.package_dir.iterdir())
    raw = stored.read_bytes()
    assert not zipfile.is_zipfile(stored)
    assert b"PK\x03\x04" not in raw
    assert b"Lovelace" not in raw
    assert b"ada@example.com" not in raw

    response = await client.get(link)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert (
        response.headers["content-disposition"] == f'attachment; filename="privacy-data-{request["id"]}.zip"'
    )
    assert response.headers["cache-control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == [
        "crm/customers.csv",
        "crm/orders.csv",
        "data.json",
        "loyalty/points.csv",
        "report.html",
        "support/newsletter.csv",
        "support/ticket_notes.csv",
        "support/tickets.csv",
    ]

    data = json.loads(archive.read("data.json"))
    assert data["request"]["id"] == request["id"]
    assert data["request"]["type"] == "access"
    assert data["customer"] == {"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace"}
    assert data["generated_at"]
    assert data["sources"] == {
        "crm": {
            "customers": [
                {"id": "cus_1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
            ],
            "orders": [
                {"id": 1, "customer_id": "cus_1", "total": 12.5, "shipping_address": "1 Analytical Way"},
                {"id": 2, "customer_id": "cus_1", "total": 99.0, "shipping_address": "1 Analytical Way"},
            ],
        },
        "support": {
            "tickets": [
                {
                    "id": 1,
                    "customer_id": "cus_1",
                    "email": "Ada@Example.com",
                    "customer_name": "Ada Lovelace",
                    "body": "My engine is late",
                    "subject": "Delivery",
                },
                {
                    "id": 2,
                    "customer_id": None,
                    "email": "ada@example.com",
                    "customer_name": "Ada L.",
                    "body": "Please call me",
                    "subject": "Callback",
                },
            ],
            "ticket_notes": [
                {"id": 10, "ticket_id": 1, "note": "refund issued"},
                {"id": 11, "ticket_id": 2, "note": "called back"},
            ],
            "newsletter": [{"id": 1, "email": "ADA@example.com", "list": "weekly"}],
        },
        "loyalty": {"points": [{"balance": 120, "tier": "gold"}, {"balance": 3, "tier": "gold"}]},
    }
    # Nobody else's data anywhere in the package.
    for name in archive.namelist():
        text = archive.read(name).decode()
        assert [other for other in OTHERS if other in text] == [], name

    orders = list(csv.reader(io.StringIO(archive.read("crm/orders.csv").decode())))
    assert orders == [
        ["id", "customer_id", "total", "shipping_address"],
        ["1", "cus_1", "12.5", "1 Analytical Way"],
        ["2", "cus_1", "99.0", "1 Analytical Way"],
    ]
    notes = list(csv.reader(io.StringIO(archive.read("support/ticket_notes.csv").decode())))
    assert notes == [["id", "ticket_id", "note"], ["10", "1", "refund issued"], ["11", "2", "called back"]]

    report = archive.read("report.html").decode()
    assert "Customer account" in report  # purpose
    assert "contact data" in report  # categories
    assert "Invoices are kept 10 years for tax law" in report  # retention
    assert "Notes are kept 3 years for warranty claims" in report
    assert "loyalty partner" in report  # recipients
    assert "Ada" in report
    assert "1 Analytical Way" in report

    # The loyalty source was asked with its secret header, for this customer only.
    assert {path for method, path, _, _ in remote.calls if method == "GET"} == {"/gdpr/customers/cus_1"}

    timeline = await events(client, keys["operator"], request["id"])
    assert ("accepted", "operator-key") in timeline
    assert ("processed", "system") in timeline
    assert timeline[-1] == ("package_downloaded", "customer")


async def test_download_link_expires_and_the_package_is_purged(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")
    [stored] = list(settings.package_dir.iterdir())

    assert (await client.get(link)).status_code == 200
    assert (await client.get(link)).status_code == 200  # as often as the customer likes until it expires

    clock.advance(settings.download_ttl + timedelta(seconds=1))
    expired = await client.get(link)
    assert expired.status_code == 410
    assert expired.json()["error"] == "gone"

    await work(app)  # the sweep purges the file
    assert not stored.exists()
    assert list(settings.package_dir.iterdir()) == []
    after = await client.get(link)
    assert after.status_code == 410
    assert after.json() == {"error": "gone", "detail": "This download link has expired."}

    timeline = await events(client, keys["operator"], request["id"])
    assert [a for a, _ in timeline].count("package_downloaded") == 2
    assert ("package_purged", "system") in timeline


async def test_unknown_or_malformed_download_token_is_404(client: httpx.AsyncClient) -> None:
    for token in ["A" * 43, "not-a-token", "x" * 200, "%00" * 5]:
        response = await client.get(f"/v1/downloads/{token}")
        assert response.status_code == 404, token
        assert response.json()["error"] == "not_found"
    too_long = await client.get("/v1/downloads/" + "x" * 201)
    assert too_long.status_code in (404, 422)


async def test_download_link_survives_a_missing_file_as_gone(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    """A package file lost from disk (a purge that crashed halfway, a wiped volume) is 410, never a 500."""
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")
    [stored] = list(settings.package_dir.iterdir())
    stored.unlink()

    response = await client.get(link)

    assert response.status_code == 410
    assert response.json()["error"] == "gone"


async def test_tampered_package_is_refused_not_served(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    link = link_in(emails_to(settings.mail_dir, "ada@example.com", "ready")[-1], "/v1/downloads/")
    [stored] = list(settings.package_dir.iterdir())
    damaged = bytearray(stored.read_bytes())
    damaged[40] ^= 0xFF
    await asyncio.to_thread(stored.write_bytes, bytes(damaged))

    response = await client.get(link)

    assert response.status_code == 410
    assert response.json()["error"] == "gone"
