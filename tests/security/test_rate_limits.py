"""Rate limits per client address on submit, verify (GET and POST) and downloads (RATE_LIMIT_PER_MINUTE)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.errors import RateLimited
from app.core.ratelimit import RateLimiter

from ..conftest import bearer, client_of

LIMIT = 3
TOKEN = "A" * 43  # shaped like a token, belongs to nothing


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_per_minute": LIMIT}


Call = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


def _submit(keys: dict[str, str]) -> Call:
    async def call(http: httpx.AsyncClient, n: int) -> httpx.Response:
        return await http.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": f"person{n}@example.org"},
            headers=bearer(keys["app"]),
        )

    return call


async def _verify_get(http: httpx.AsyncClient, _n: int) -> httpx.Response:
    return await http.get("/v1/verify", params={"token": TOKEN})


async def _verify_post_form(http: httpx.AsyncClient, _n: int) -> httpx.Response:
    return await http.post("/v1/verify", data={"token": TOKEN})


async def _verify_post_json(http: httpx.AsyncClient, _n: int) -> httpx.Response:
    return await http.post("/v1/verify", json={"token": TOKEN})


async def _download(http: httpx.AsyncClient, _n: int) -> httpx.Response:
    return await http.get(f"/v1/downloads/{TOKEN}")


ENDPOINTS = ["submit", "verify_get", "verify_post_form", "verify_post_json", "download"]
ALLOWED = {
    "submit": 201,
    "verify_get": 404,
    "verify_post_form": 404,
    "verify_post_json": 404,
    "download": 404,
}


def _call(name: str, keys: dict[str, str]) -> Call:
    calls: dict[str, Call] = {
        "submit": _submit(keys),
        "verify_get": _verify_get,
        "verify_post_form": _verify_post_form,
        "verify_post_json": _verify_post_json,
        "download": _download,
    }
    return calls[name]


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited"
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert set(body) == {"error", "detail"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_fourth_call_from_one_address_is_refused_and_others_are_not(
    app: FastAPI, keys: dict[str, str], endpoint: str
) -> None:
    call = _call(endpoint, keys)
    async with client_of(app, "1.2.3.4") as attacker, client_of(app, "5.6.7.8") as bystander:
        for n in range(LIMIT):
            response = await call(attacker, n)
            assert response.status_code == ALLOWED[endpoint], (n, response.text)
        assert_rate_limited(await call(attacker, LIMIT))
        assert_rate_limited(await call(attacker, LIMIT + 1))
        # Another address still has its whole allowance.
        for n in range(LIMIT):
            response = await call(bystander, 100 + n)
            assert response.status_code == ALLOWED[endpoint], (n, response.text)


async def test_forwarded_headers_do_not_reset_the_limit(app: FastAPI) -> None:
    """The address is the connection's peer: a client cannot claim another one with X-Forwarded-For."""
    async with client_of(app, "1.2.3.4") as attacker:
        for n in range(LIMIT + 2):
            response = await attacker.get(
                "/v1/verify",
                params={"token": TOKEN},
                headers={"X-Forwarded-For": f"10.0.0.{n}", "X-Real-IP": f"10.0.1.{n}"},
            )
            if n >= LIMIT:
                assert_rate_limited(response)
            else:
                assert response.status_code == 404, (n, response.text)


async def test_scopes_are_counted_separately(app: FastAPI, keys: dict[str, str]) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for n in range(LIMIT):
            assert (await _download(http, n)).status_code == 404
        assert_rate_limited(await _download(http, LIMIT))
        assert (await _verify_get(http, 0)).status_code == 404
        assert (await _submit(keys)(http, 0)).status_code == 201


async def test_a_refused_submit_stores_nothing(app: FastAPI, keys: dict[str, str]) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for n in range(LIMIT):
            await _submit(keys)(http, n)
        assert_rate_limited(await _submit(keys)(http, 99))
    listing = await client_listing(app, keys)
    assert "person99@example.org" not in [item["email"] for item in listing]
    assert len(listing) == LIMIT


async def client_listing(app: FastAPI, keys: dict[str, str]) -> list[dict[str, object]]:
    async with client_of(app, "9.9.9.9") as http:
        response = await http.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    assert response.status_code == 200
    items: list[dict[str, object]] = response.json()["items"]
    return items


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_per_minute": 0}])
async def test_zero_disables_the_limit(app: FastAPI) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for n in range(25):
            assert (await _verify_get(http, n)).status_code == 404
            assert (await _download(http, n)).status_code == 404


def test_the_window_opens_again_after_a_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, now=lambda: now[0])
    limiter.hit("verify", "1.2.3.4")
    limiter.hit("verify", "1.2.3.4")
    with pytest.raises(RateLimited) as refused:
        limiter.hit("verify", "1.2.3.4")
    assert refused.value.headers == {"Retry-After": "60"}
    now[0] += 45.5
    with pytest.raises(RateLimited) as refused:
        limiter.hit("verify", "1.2.3.4")
    assert refused.value.headers == {"Retry-After": "15"}
    now[0] += 14.5
    limiter.hit("verify", "1.2.3.4")
