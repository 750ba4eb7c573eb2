"""Manual access: the operator's direct export (json and zip), then fulfilment with or without a link."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
from fastapi import FastAPI

from app.core.config import Settings

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..helpers import detail, submit
from ..processing.world import OTHERS, accept, emails_to, events, link_in, work
from ..sources.http_source import HttpSourceServer


async def _export(client: httpx.AsyncClient, key: str, request_id: str, fmt: str | None) -> httpx.Response:
    params = {"format": fmt} if fmt else {}
    return await client.get(f"/v1/privacy-requests/{request_id}/data", params=params, headers=bearer(key))


async def test_manual_access_export_then_fulfil_with_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    accepted = await accept(client, keys["operator"], request["id"], "manual")
    assert (accepted["status"], accepted["handling"]) == ("in_progress", "manual")

    as_json = await _export(client, keys["operator"], request["id"], None)  # json is the default
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert (
        as_json.headers["content-disposition"] == f'attachment; filename="privacy-data-{request["id"]}.json"'
    )
    document = as_json.json()
    assert set(document) == {"request", "customer", "generated_at", "sources"}
    assert document["customer"] == {"id": "cus_1", "email": "ada@example.com", "name": "Ada Lovelace"}
    assert [r["id"] for r in document["sources"]["crm"]["orders"]] == [1, 2]
    assert len(document["sources"]["support"]["tickets"]) == 2
    assert document["sources"]["loyalty"]["points"][0]["balance"] == 120
    assert [other for other in OTHERS if other in as_json.text] == []

    as_zip = await _export(client, keys["operator"], request["id"], "zip")
    assert as_zip.status_code == 200
    assert as_zip.headers["content-type"] == "application/zip"
    assert as_zip.headers["content-disposition"] == f'attachment; filename="privacy-data-{request["id"]}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(as_zip.content))
    zipped = json.loads(archive.read("data.json"))
    # The same document as format=json (collected again, so only generated_at differs).
    assert {**zipped, "generated_at": None} == {**document, "generated_at": None}
    assert "report.html" in archive.namelist()
    assert "crm/orders.csv" in archive.namelist()

    timeline = await events(client, keys["operator"], request["id"])
    exports = [
        e
        for e in (await detail(client, keys["operator"], request["id"]))["events"]
        if e["action"] == "data_exported"
    ]
    assert [(e["actor"], e["detail"]) for e in exports] == [
        ("operator-key", "format json"),
        ("operator-key", "format zip"),
    ]
    assert ("accepted", "operator-key") in timeline

    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": True, "note": "reviewed"},
        headers=bearer(keys["operator"]),
    )
    assert fulfilled.status_code == 200
    assert fulfilled.json()["status"] == "processed"
    assert emails_to(settings.mail_dir, "ada@example.com", "ready") == []  # built by the worker

    await work(app)

    [ready] = emails_to(settings.mail_dir, "ada@example.com", "ready to download")
    download = await client.get(link_in(ready, "/v1/downloads/"))
    assert download.status_code == 200
    packaged = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("data.json"))
    assert packaged["sources"]["crm"] == document["sources"]["crm"]
    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    actions = [(e["action"], e["actor"]) for e in view["events"]]
    assert ("fulfilled", "operator-key") in actions
    assert ("download_link_sent", "system") in actions
    assert actions[-1] == ("package_downloaded", "customer")


async def test_manual_access_fulfilled_without_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")

    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": False, "note": "handed over on a USB stick"},
        headers=bearer(keys["operator"]),
    )
    assert fulfilled.status_code == 200
    assert fulfilled.json()["status"] == "processed"

    await work(app)

    to_grace = emails_to(settings.mail_dir, "grace@example.com")
    assert len(to_grace) == 2  # the acknowledgement and the access fulfilled (sent in either order)
    [done] = [text for text in to_grace if "handed over on a USB stick" in text]
    assert "/v1/downloads/" not in done
    assert list(settings.package_dir.glob("*")) == []
    again = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil", json={}, headers=bearer(keys["operator"])
    )
    assert again.status_code == 409


async def test_export_needs_an_operator_and_a_known_request(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    path = f"/v1/privacy-requests/{request['id']}/data"
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=bearer(keys["app"]))).status_code == 403
    unknown = await client.get(
        "/v1/privacy-requests/00000000-0000-0000-0000-000000000000/data", headers=bearer(keys["operator"])
    )
    assert unknown.status_code == 404
    bad = await client.get(path, params={"format": "xml"}, headers=bearer(keys["operator"]))
    assert bad.status_code == 422
    assert bad.json()["error"] == "validation_error"


async def test_export_with_a_failing_source_is_503_naming_it_and_not_logged(
    client: httpx.AsyncClient, keys: dict[str, str], remote: HttpSourceServer
) -> None:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    remote.fail_next = 100  # every call answers 500

    for fmt in ("json", "zip"):
        response = await _export(client, keys["operator"], request["id"], fmt)
        assert response.status_code == 503, fmt
        assert int(response.headers["Retry-After"]) > 0
        body = response.json()
        assert body["error"] == "unavailable"
        assert "loyalty" in body["detail"]
        assert "secret" not in body["detail"]

    timeline = await events(client, keys["operator"], request["id"])
    assert "data_exported" not in [action for action, _ in timeline]
