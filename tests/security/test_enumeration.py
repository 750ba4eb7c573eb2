"""No answer to the app role reveals whether an email belongs to a customer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import bearer
from ..helpers import detail, mailbox

KNOWN = "ada@example.com"
UNKNOWN = "nobody-here@example.org"


def shape(value: Any) -> Any:
    """The keys and value types of a JSON document, without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


async def _submit(client: httpx.AsyncClient, key: str, type_: str, email: str) -> httpx.Response:
    return await client.post(
        "/v1/privacy-requests", json={"type": type_, "email": email}, headers=bearer(key)
    )


@pytest.mark.parametrize("type_", ["access", "deletion"])
async def test_known_and_unknown_emails_get_the_same_answer(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], type_: str
) -> None:
    known = await _submit(client, keys["app"], type_, KNOWN)
    unknown = await _submit(client, keys["app"], type_, UNKNOWN)
    assert known.status_code == unknown.status_code == 201
    assert shape(known.json()) == shape(unknown.json())
    assert "customer" not in known.json()
    differing = {k for k in known.json() if known.json()[k] != unknown.json()[k]}
    assert differing <= {"id", "received_at", "due_at"}, differing
    assert set(known.headers) - {"content-length"} == set(unknown.headers) - {"content-length"}

    # A repeat is answered alike too: 200 with the open request.
    again_known = await _submit(client, keys["app"], type_, KNOWN)
    again_unknown = await _submit(client, keys["app"], type_, UNKNOWN)
    assert again_known.status_code == again_unknown.status_code == 200
    assert again_known.json()["id"] == known.json()["id"]
    assert again_unknown.json()["id"] == unknown.json()["id"]

    # The app role's view: no customer, no address, no timeline; the same shape for both.
    app_known = await detail(client, keys["app"], known.json()["id"])
    app_unknown = await detail(client, keys["app"], unknown.json()["id"])
    for view in (app_known, app_unknown):
        assert not {"customer", "email", "events", "result", "channel"} & set(view)
    assert shape(app_known) == shape(app_unknown)
    assert "Lovelace" not in str(app_known), "the directory's name must not reach the app role"
    assert "example" not in str(app_known), "no address reaches the app role"

    # The operator does see who it is.
    operator_known = await detail(client, keys["operator"], known.json()["id"])
    operator_unknown = await detail(client, keys["operator"], unknown.json()["id"])
    assert operator_known["customer"]["id"] == "cus_1"
    assert operator_unknown["customer"] is None

    # Both people get the same kind of email, so the inbox does not tell either.
    await app.state.worker.run_until_idle()
    subjects = {message["To"]: message["Subject"] for message in mailbox(app.state.ctx.settings.mail_dir)}
    assert subjects[KNOWN] == subjects[UNKNOWN]


async def test_the_app_role_cannot_list_or_look_up_customers(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    for path in ("/v1/privacy-requests", "/v1/customers/cus_1", f"/v1/privacy-requests?email={KNOWN}"):
        response = await client.get(path, headers=bearer(keys["app"]))
        assert response.status_code == 403, path
        assert "Lovelace" not in response.text


async def test_errors_for_unknown_ids_do_not_depend_on_existence_of_a_customer(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    missing = await client.get(
        "/v1/privacy-requests/00000000-0000-0000-0000-00000000abcd", headers=bearer(keys["app"])
    )
    assert missing.status_code == 404
    assert set(missing.json()) == {"error", "detail"}
