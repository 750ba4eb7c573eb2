"""Confirmation and download tokens: tampered, expired, reused, guessed, over-long, non-ASCII, cross-used.

Every refusal is a 404 or 410 (an HTML page for the browser, the contract's body for JSON) and leaves the
request as it was: same status, same timeline.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.pages import SECURITY_HEADERS

from ..conftest import bearer
from .flows import access_with_download, deletion_with_token, snapshot


def tampered(token: str) -> str:
    flipped = "B" if token[-1] != "B" else "C"
    return token[:-1] + flipped


def forgeries(token: str) -> dict[str, str]:
    """Tokens an attacker might try, by name; every one must be refused."""
    return {
        "tampered_last": tampered(token),
        "tampered_first": ("x" if token[0] != "x" else "y") + token[1:],
        "guessed_1": secrets.token_urlsafe(32),
        "guessed_2": secrets.token_urlsafe(32),
        "guessed_3": secrets.token_urlsafe(32),
        "truncated": token[:-1],
        "one_more": token + "A",
        "doubled": token + token,
        "at_the_limit": (token * 5)[:200],
        "upper_cased": token.upper() if token.upper() != token else token.lower(),
        "non_ascii_letters": "ä" * 43,
        "non_ascii_digits": "٣" * 43,
        "non_ascii_mixed": token[:40] + "ß€😀",
        "full_width": "Ａ" * 43,
        "nul": token[:42] + "\x00",
        "percent": "%" * 43,
        "empty": "",
        "sql": "' OR '1'='1' -- " + "a" * 27,
    }


def assert_refused_page(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "<form" not in response.text, "a refused link must not offer the Confirm button"


def assert_refused_json(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {**response.json(), "error": {404: "not_found", 410: "gone"}[status]}
    assert set(response.json()) == {"error", "detail"}


async def _try_verify(client: httpx.AsyncClient, token: str, status: int) -> None:
    assert_refused_page(await client.get("/v1/verify", params={"token": token}), status)
    if token:  # an empty token is a missing field: a validation error, checked below
        assert_refused_page(await client.post("/v1/verify", data={"token": token}), status)
        assert_refused_json(await client.post("/v1/verify", json={"token": token}), status)


async def test_forged_confirmation_tokens_are_refused_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await deletion_with_token(client, app, keys)
    before = await snapshot(client, keys, request["id"])
    for name, forged in forgeries(token).items():
        try:
            await _try_verify(client, forged, 404)
        except AssertionError as error:
            raise AssertionError(f"forgery {name!r}: {error}") from error
    assert await snapshot(client, keys, request["id"]) == before
    # The real token still works afterwards: failed guesses do not burn it.
    assert (await client.post("/v1/verify", json={"token": token})).status_code == 200


@pytest.mark.parametrize("length", [201, 2_000, 7_000])
async def test_over_long_tokens_are_refused_without_a_server_error(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], length: int
) -> None:
    request, token = await deletion_with_token(client, app, keys)
    before = await snapshot(client, keys, request["id"])
    long = (token * (length // 43 + 1))[:length]
    for response in (
        await client.get("/v1/verify", params={"token": long}),
        await client.post("/v1/verify", data={"token": long}),
        await client.post("/v1/verify", json={"token": long}),
        await client.get(f"/v1/downloads/{long}"),
    ):
        # However long, a mangled link is an unknown link: the same 404 on every route.
        assert response.status_code == 404, response.text
        if response.headers["content-type"].startswith("application/json"):
            assert response.json()["error"] == "not_found"
        else:
            assert response.headers["content-type"].startswith("text/html")
    assert await snapshot(client, keys, request["id"]) == before


async def test_empty_or_missing_token_is_a_validation_error(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/v1/verify", json={}),
        await client.post("/v1/verify", json={"token": ""}),
        await client.post("/v1/verify", json={"token": 12345}),
        await client.post("/v1/verify", json={"token": ["a"]}),
        await client.post("/v1/verify", content=b"", headers={"Content-Type": "application/json"}),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "validation_error"
        assert response.json()["fields"]
    refused = await client.post("/v1/verify", data={"nothing": "here"})
    assert refused.status_code == 422


async def test_a_confirmation_token_works_once(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await deletion_with_token(client, app, keys)
    confirmed = await client.post("/v1/verify", data={"token": token})
    assert confirmed.status_code == 200
    after_first = await snapshot(client, keys, request["id"])
    assert after_first["status"] == "in_progress"
    assert [e["action"] for e in after_first["events"]] == ["received", "confirmed"]
    await _try_verify(client, token, 404)
    assert await snapshot(client, keys, request["id"]) == after_first


async def test_a_resent_link_retires_the_old_token(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, old = await deletion_with_token(client, app, keys)
    resent = await client.post(
        f"/v1/privacy-requests/{request['id']}/resend-verification", headers=bearer(keys["operator"])
    )
    assert resent.status_code == 200
    before = await snapshot(client, keys, request["id"])
    await _try_verify(client, old, 404)
    assert await snapshot(client, keys, request["id"]) == before


async def test_an_expired_confirmation_token_is_gone_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await deletion_with_token(client, app, keys)
    before = await snapshot(client, keys, request["id"])
    clock.advance(app.state.ctx.settings.verification_ttl + timedelta(seconds=1))
    await _try_verify(client, token, 410)
    assert await snapshot(client, keys, request["id"]) == before
    assert before["status"] == "unverified"


async def test_forged_download_tokens_are_refused_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await access_with_download(client, app, keys)
    before = await snapshot(client, keys, request["id"])
    for name, forged in forgeries(token).items():
        if not forged:
            continue  # /v1/downloads/ is another path
        response = await client.get(f"/v1/downloads/{quote(forged, safe='')}")
        assert response.status_code == 404, (name, response.text)
        assert_refused_json(response, 404)
    assert await snapshot(client, keys, request["id"]) == before
    real = await client.get(f"/v1/downloads/{token}")
    assert real.status_code == 200
    assert real.headers["content-type"] == "application/zip"
    assert real.content[:2] == b"PK"


async def test_an_expired_download_is_gone_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await access_with_download(client, app, keys)
    before = await snapshot(client, keys, request["id"])
    clock.advance(app.state.ctx.settings.download_ttl + timedelta(seconds=1))
    assert_refused_json(await client.get(f"/v1/downloads/{token}"), 410)
    assert await snapshot(client, keys, request["id"]) == before


async def test_a_download_link_is_reusable_until_it_expires_and_each_use_is_logged(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    request, token = await access_with_download(client, app, keys)
    for _ in range(2):
        assert (await client.get(f"/v1/downloads/{token}")).status_code == 200
    events = (await snapshot(client, keys, request["id"]))["events"]
    assert [e["action"] for e in events].count("package_downloaded") == 2


async def test_tokens_of_one_kind_do_not_open_the_other(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    deletion, verify_token = await deletion_with_token(client, app, keys, email="grace@example.com")
    access, download_token = await access_with_download(client, app, keys)
    before = [await snapshot(client, keys, r["id"]) for r in (deletion, access)]
    assert_refused_json(await client.get(f"/v1/downloads/{verify_token}"), 404)
    await _try_verify(client, download_token, 404)
    assert [await snapshot(client, keys, r["id"]) for r in (deletion, access)] == before
