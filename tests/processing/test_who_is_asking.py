"""Section 7 as an attacker tries it: an app key is public, so it alone never decides whose data is sent or
erased, and no app answer tells it anything about a person it has not proven to be. Through the real app and
worker, on SQLite and PostgreSQL, with real tokens signed by a key the tests made."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..helpers import detail, mailbox, submit
from ..sources.http_source import HttpSourceServer
from .world import OTHERS, accept, emails_to, events, link_in, snapshot_rows, work

ATTACKER = "attacker@evil.example"
APP_VIEW = {
    "id",
    "type",
    "status",
    "regulation",
    "locale",
    "received_at",
    "due_at",
    "verified_at",
    "days_left",
    "overdue",
}


async def post(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/v1/privacy-requests", json=body, headers={**bearer(key), **(headers or {})})


async def nothing_recorded(client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI) -> None:
    listed = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert listed.json()["items"] == []
    await app.state.worker.run_until_idle()
    assert mailbox(app.state.ctx.settings.mail_dir) == []


@pytest.mark.parametrize("kind", ["access", "deletion"])
async def test_an_app_key_cannot_pair_a_customer_id_with_another_address(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, kind: str
) -> None:
    response = await post(client, keys["app"], {"type": kind, "customer_id": "cus_1", "email": ATTACKER})
    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": "customer_id", "detail": "needs a signed-in customer token (X-Customer-Token)"}
    ]
    await nothing_recorded(client, keys, app)


async def test_customer_ids_cannot_be_walked(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    existing = await post(client, keys["app"], {"type": "access", "customer_id": "cus_2"})
    unknown = await post(client, keys["app"], {"type": "access", "customer_id": "cus_9999"})
    assert existing.status_code == unknown.status_code == 422
    assert existing.json() == unknown.json(), "the same answer for an existing and an unknown id"
    await nothing_recorded(client, keys, app)


async def test_a_signed_in_customer_cannot_name_another_customer_or_address(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    other_id = await post(
        client, keys["app"], {"type": "deletion", "customer_id": "cus_1"}, signed_in("cus_3")
    )
    assert other_id.status_code == 422
    assert other_id.json()["fields"][0]["field"] == "customer_id"
    other_address = await post(
        client, keys["app"], {"type": "deletion", "email": ATTACKER}, signed_in("cus_3")
    )
    assert other_address.status_code == 422
    assert other_address.json()["fields"][0]["field"] == "email"
    # the address on file, in another case, is the customer's own
    own = await post(client, keys["app"], {"type": "access", "email": "Alan@Example.COM"}, signed_in("cus_3"))
    assert own.status_code == 201
    assert set(own.json()) == APP_VIEW


async def test_an_address_only_request_for_someone_else_mails_only_them_and_never_captures_their_own(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    planted = await post(client, keys["app"], {"type": "access", "email": "ada@example.com"})
    assert planted.status_code == 201
    assert set(planted.json()) == APP_VIEW, "the answer names no one"
    # Ada herself, signed in, asks too: an unproven request never captures (or reveals) her own, so hers is
    # a request of its own, with her regulation and language; a repeat of hers is the same one.
    own = await post(client, keys["app"], {"type": "access"}, signed_in("cus_1"))
    assert own.status_code == 201
    assert own.json()["id"] != planted.json()["id"]
    again = await post(client, keys["app"], {"type": "access"}, signed_in("cus_1"))
    assert (again.status_code, again.json()["id"]) == (200, own.json()["id"])
    await accept(client, keys["operator"], own.json()["id"], "automatic")
    await work(app)
    recipients = [str(message["To"]) for message in mailbox(settings.mail_dir)]
    assert recipients == ["ada@example.com"] * 3, "two acknowledgements and the data link, to Ada only"
    [ready] = emails_to(settings.mail_dir, "ada@example.com", "ready")
    package = await client.get(link_in(ready, "/v1/downloads/"))
    assert package.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(package.content))
    for name in archive.namelist():
        text = archive.read(name).decode()
        assert [other for other in OTHERS if other in text] == [], name


async def test_a_signed_in_deletion_erases_that_customer_and_that_address_only(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    world = settings.sources_file.parent
    before = snapshot_rows(world)
    request = await submit(client, keys["app"], type="deletion", headers=signed_in("cus_2"))
    await app.state.worker.run_until_idle()
    [confirmation] = emails_to(settings.mail_dir, "grace@example.com", "Confirm the deletion")
    token = link_in(confirmation, "/v1/verify").split("token=", 1)[1]
    assert (await client.post("/v1/verify", json={"token": token})).status_code == 200
    await work(app)
    assert (await detail(client, keys["operator"], request["id"]))["status"] == "processed"
    after = snapshot_rows(world)
    # Ada's and Alan's rows are exactly as they were; Grace's are gone or pseudonymised.
    for table, rows in before.items():
        untouched = [row for row in rows if not any("grace" in str(v).lower() or v == "cus_2" for v in row)]
        assert [row for row in untouched if row in after[table]] == untouched, table
    assert ("cus_2", "grace@example.com", "Grace", "Hopper") not in after["customers"]


async def test_the_app_reads_only_the_minimal_view_of_any_request(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, remote: HttpSourceServer
) -> None:
    entered = await post(
        client,
        keys["operator"],
        {"type": "access", "customer_id": "cus_1", "channel": "phone", "note": "ID card checked at the desk"},
    )
    assert entered.status_code == 201
    request_id = entered.json()["id"]
    await client.delete(
        f"/v1/privacy-requests/{request_id}",
        params={"reason": "Duplicate of a letter", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    seen_by_app = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(keys["app"]))
    assert seen_by_app.status_code == 200
    assert set(seen_by_app.json()) == APP_VIEW
    assert seen_by_app.json()["status"] == "deleted"
    # Nothing about the person or the operators' work in any value (the id is random hex, so it is left out).
    values = str({k: v for k, v in seen_by_app.json().items() if k != "id"})
    for secret in ("ada", "cus_1", "phone", "ID card", "Duplicate", "operator-key"):
        assert secret not in values, secret


async def test_an_operator_enters_a_request_received_by_letter_with_a_note(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    response = await post(
        client,
        keys["operator"],
        {
            "type": "deletion",
            "customer_id": "cus_2",
            "channel": "letter",
            "note": "Signed letter, address matches",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["customer"]["id"] == "cus_2"
    assert body["email"] == "grace@example.com"
    assert await events(client, keys["operator"], body["id"]) == [
        ("received", "operator-key"),
        ("note", "operator-key"),
    ]
    view = await detail(client, keys["operator"], body["id"])
    assert view["events"][1]["detail"] == "Signed letter, address matches"
    await app.state.worker.run_until_idle()
    assert [str(m["To"]) for m in mailbox(settings.mail_dir)] == ["grace@example.com"]


async def test_operators_cannot_send_a_customers_mail_elsewhere_and_apps_cannot_write_notes(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    mismatch = await post(
        client, keys["operator"], {"type": "access", "customer_id": "cus_1", "email": ATTACKER}
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["fields"][0]["field"] == "email"
    note = await post(client, keys["app"], {"type": "access", "email": ATTACKER, "note": "trust me"})
    assert note.status_code == 422
    assert note.json()["fields"][0]["field"] == "note"
    await nothing_recorded(client, keys, app)


async def test_an_idempotency_key_never_replays_another_customers_answer(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await post(client, keys["app"], {"type": "access"}, {**key, **signed_in("cus_1")})
    assert first.status_code == 201
    replay = await post(client, keys["app"], {"type": "access"}, {**key, **signed_in("cus_1")})
    assert replay.status_code == 201
    assert replay.json() == first.json()
    other = await post(client, keys["app"], {"type": "access"}, {**key, **signed_in("cus_2")})
    assert other.status_code == 409
    assert first.json()["id"] not in other.text


async def test_an_operators_note_on_a_request_already_open_is_recorded(
    client: httpx.AsyncClient, keys: dict[str, str], remote: HttpSourceServer
) -> None:
    first = await post(
        client, keys["operator"], {"type": "access", "customer_id": "cus_2", "channel": "phone"}
    )
    again = await post(
        client,
        keys["operator"],
        {"type": "access", "customer_id": "cus_2", "note": "Letter with a signed ID copy"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    view = await detail(client, keys["operator"], first.json()["id"])
    assert [(e["action"], e["actor"], e["detail"]) for e in view["events"]][-1] == (
        "note",
        "operator-key",
        "Letter with a signed ID copy",
    )
