"""Submitted addresses are one mailbox each: what a header parser could read as several is refused (issue 8)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import bearer
from ..helpers import detail, mailbox

HOSTILE = {
    # RFC 2047 encoded word: became "To: x@evil.example, y@good.example".
    "encoded_word_list": "=?utf-8?q?x=40evil.example=2c=20y?=@good.example",
    # Group syntax: delivered to b@evil.example.
    "group": "a:b@evil.example",
    # An encoded NUL: put a NUL into To:.
    "encoded_nul": "=?utf-8?q?a=00b?=@good.example",
}
# Refused by email-validator too (the checks the service used to do by hand are a part of it).
INVALID = [
    "two@@example.com",
    "a,b@example.com",
    "a b@example.com",
    "<a@example.com>",
    "Ada <ada@example.com>",
    "a@example.com, b@evil.example",
    "a..b@example.com",
    '"quoted"@example.com',
    "a@[127.0.0.1]",
    "a@localhost",
    "üser@example.de",
    "x@example.com=?utf-8?q?=00?=",
]


@pytest.mark.parametrize("role", ["app", "operator"])
@pytest.mark.parametrize("address", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_an_address_a_header_parser_could_split_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, role: str, address: str
) -> None:
    response = await client.post(
        "/v1/privacy-requests", json={"type": "deletion", "email": address}, headers=bearer(keys[role])
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert [field["field"] for field in body["fields"]] == ["email"]

    listing = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert listing.json()["items"] == []
    assert await app.state.worker.run_until_idle() == 0
    assert mailbox(app.state.ctx.settings.mail_dir) == []


@pytest.mark.parametrize("address", INVALID)
async def test_what_email_validator_refuses_is_refused(
    client: httpx.AsyncClient, keys: dict[str, str], address: str
) -> None:
    response = await client.post(
        "/v1/privacy-requests", json={"type": "access", "email": address}, headers=bearer(keys["app"])
    )
    assert response.status_code == 422, response.text
    assert [field["field"] for field in response.json()["fields"]] == ["email"]


@pytest.mark.parametrize("address", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_the_list_filter_refuses_them_too(
    client: httpx.AsyncClient, keys: dict[str, str], address: str
) -> None:
    response = await client.get(
        "/v1/privacy-requests", params={"email": address}, headers=bearer(keys["operator"])
    )
    assert response.status_code == 422, response.text
    assert [field["field"] for field in response.json()["fields"]] == ["email"]


@pytest.mark.parametrize(
    ("submitted", "stored"),
    [
        ("Someone.Else+Privacy@Example.ORG", "someone.else+privacy@example.org"),
        ("o'brien@example.org", "o'brien@example.org"),
        ("  spaced@example.org ", "spaced@example.org"),
    ],
)
async def test_a_normal_address_is_accepted_lowercased_and_mailed(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, submitted: str, stored: str
) -> None:
    response = await client.post(
        "/v1/privacy-requests", json={"type": "access", "email": submitted}, headers=bearer(keys["operator"])
    )
    assert response.status_code == 201, response.text
    assert (await detail(client, keys["operator"], response.json()["id"]))["email"] == stored

    assert await app.state.worker.run_until_idle() >= 1
    [ack] = mailbox(app.state.ctx.settings.mail_dir)
    assert [address.addr_spec for address in ack["To"].addresses] == [stored]
