"""Rate limits per client address (contract section 11): submit, verify (GET and POST) and downloads
(RATE_LIMIT_PER_MINUTE), failed authentication counted apart (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE), the address
a trusted proxy reports (FORWARDED_ALLOW_IPS), shared by replicas on PostgreSQL and bounded in memory on SQLite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core import clock
from app.core.config import ConfigError, Settings, load_settings
from app.core.ratelimit import MAX_TRACKED, MemoryCounter
from app.models import RateLimitWindow

from ..conftest import SECRET, bearer, client_of, running_app
from .live_server import free_port

ROOT = Path(__file__).resolve().parents[2]

LIMIT = 3
FAILURES = 2  # RATE_LIMIT_AUTH_FAILURES_PER_MINUTE
TOKEN = "A" * 43  # shaped like a token, belongs to nothing
WRONG_KEY = "prk_" + "x" * 40
LIMITS = {"rate_limit_per_minute": LIMIT, "rate_limit_auth_failures_per_minute": FAILURES}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(LIMITS)


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


@pytest.mark.parametrize("settings_overrides", [{"rate_limit_per_minute": 0}])
async def test_zero_disables_the_failed_authentication_limit_too(app: FastAPI) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for _ in range(25):
            response = await http.get("/v1/privacy-requests", headers=bearer(WRONG_KEY))
            assert response.status_code == 401, response.text


async def test_the_window_opens_again_after_a_minute(app: FastAPI) -> None:
    clock.freeze(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    async with client_of(app, "1.2.3.4") as http:
        for n in range(LIMIT):
            assert (await _verify_get(http, n)).status_code == 404
        refused = await _verify_get(http, LIMIT)
        assert_rate_limited(refused)
        assert refused.headers["Retry-After"] == "60"
        clock.advance(timedelta(seconds=45.5))
        refused = await _verify_get(http, LIMIT)
        assert_rate_limited(refused)
        assert refused.headers["Retry-After"] == "15"
        clock.advance(timedelta(seconds=14.5))
        # A new window: the whole allowance again.
        for n in range(LIMIT):
            assert (await _verify_get(http, n)).status_code == 404
        assert_rate_limited(await _verify_get(http, LIMIT))


# --- the address a trusted proxy reports (FORWARDED_ALLOW_IPS) ---------------------------------------------


async def _verify_via(http: httpx.AsyncClient, forwarded_for: str) -> httpx.Response:
    return await http.get("/v1/verify", params={"token": TOKEN}, headers={"X-Forwarded-For": forwarded_for})


async def test_a_trusted_proxy_names_the_client(app: FastAPI) -> None:
    """By default a proxy on the same host (127.0.0.1) is trusted: each client it reports has its own allowance,
    and a client cannot get a new one by putting addresses of its own in front of what the proxy appends."""
    async with client_of(app, "127.0.0.1") as proxy:
        for _ in range(LIMIT):
            assert (await _verify_via(proxy, "203.0.113.7")).status_code == 404
        assert_rate_limited(await _verify_via(proxy, "203.0.113.7"))
        assert_rate_limited(await _verify_via(proxy, "198.51.100.1, 203.0.113.7"))
        for _ in range(LIMIT):
            assert (await _verify_via(proxy, "203.0.113.8")).status_code == 404
        # The proxy's own calls are a client of their own too.
        assert (await _verify_get(proxy, 0)).status_code == 404


@pytest.mark.parametrize(
    ("settings_overrides", "proxy", "untrusted"),
    [
        ({**LIMITS, "forwarded_allow_ips": "10.0.0.0/8, 192.0.2.10"}, "10.1.2.3", "127.0.0.1"),
        ({**LIMITS, "forwarded_allow_ips": "10.0.0.0/8, 192.0.2.10"}, "192.0.2.10", "192.0.2.11"),
        ({**LIMITS, "forwarded_allow_ips": "*"}, "192.0.2.99", None),
        ({**LIMITS, "forwarded_allow_ips": ""}, None, "127.0.0.1"),
    ],
)
async def test_only_the_configured_proxies_are_believed(
    app: FastAPI, proxy: str | None, untrusted: str | None
) -> None:
    if proxy is not None:
        async with client_of(app, proxy) as http:
            for n in range(LIMIT + 2):
                assert (await _verify_via(http, f"203.0.113.{n}")).status_code == 404
    if untrusted is not None:
        async with client_of(app, untrusted) as http:
            for n in range(LIMIT):
                assert (await _verify_via(http, f"203.0.113.{n}")).status_code == 404
            assert_rate_limited(await _verify_via(http, "203.0.113.200"))


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.internal", "10.0.0.0/8, *", "127.0.0.1;10.0.0.1"])
def test_a_bad_forwarded_allow_ips_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "FORWARDED_ALLOW_IPS" in str(error.value)
    assert "\n" not in str(error.value)


# --- failed authentication, counted apart ------------------------------------------------------------------


async def _list(http: httpx.AsyncClient, key: str) -> httpx.Response:
    return await http.get("/v1/privacy-requests", headers=bearer(key))


async def test_wrong_keys_are_counted_per_address_and_then_refused(
    app: FastAPI, keys: dict[str, str]
) -> None:
    clock.freeze(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    async with client_of(app, "1.2.3.4") as guesser, client_of(app, "5.6.7.8") as bystander:
        for _ in range(FAILURES):
            response = await _list(guesser, WRONG_KEY)
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "unauthorized"
        # The allowance is spent: no key is looked at from this address for the rest of its minute, a right one
        # neither (so a guess cannot be told right or wrong).
        assert_rate_limited(await _list(guesser, WRONG_KEY))
        assert_rate_limited(await _list(guesser, keys["operator"]))
        # Another address is not affected.
        assert (await _list(bystander, WRONG_KEY)).status_code == 401
        assert (await _list(bystander, keys["operator"])).status_code == 200
        clock.advance(timedelta(seconds=61))
        assert (await _list(guesser, keys["operator"])).status_code == 200


async def test_successes_do_not_count_as_failures(app: FastAPI, keys: dict[str, str]) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for _ in range(FAILURES * 5):
            assert (await _list(http, keys["operator"])).status_code == 200
        for _ in range(FAILURES):
            assert (await _list(http, WRONG_KEY)).status_code == 401


async def test_failures_do_not_spend_the_allowance_of_honest_calls(
    app: FastAPI, keys: dict[str, str]
) -> None:
    async with client_of(app, "1.2.3.4") as http:
        assert (await _list(http, WRONG_KEY)).status_code == 401
        for n in range(LIMIT):
            assert (await _submit(keys)(http, n)).status_code == 201
        assert (await _list(http, WRONG_KEY)).status_code == 401


async def test_refused_customer_tokens_count_as_failed_authentication(
    app: FastAPI, keys: dict[str, str]
) -> None:
    async with client_of(app, "1.2.3.4") as http:
        for n in range(FAILURES):
            response = await http.post(
                "/v1/privacy-requests",
                json={"type": "access", "email": f"person{n}@example.org"},
                headers={**bearer(keys["app"]), "X-Customer-Token": "not.a.token"},
            )
            assert response.status_code == 401, response.text
        # Counted in the failed-authentication scope: the address's operator key is refused too now.
        assert_rate_limited(await _list(http, keys["operator"]))


# --- shared by replicas (PostgreSQL) and bounded in memory (SQLite) ----------------------------------------


async def _rate_limit_rows(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(RateLimitWindow)) or 0)


async def test_two_replicas_share_the_limits(
    settings: Settings, keys: dict[str, str], is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("replicas share the limits through PostgreSQL; SQLite is one process (TEST_DATABASE_URL)")
    async with running_app(settings) as first, running_app(settings) as second:
        async with (
            client_of(first, "1.2.3.4") as one,
            client_of(second, "1.2.3.4") as other,
            client_of(second, "5.6.7.8") as bystander,
        ):
            # The allowance is the address's, whichever replica answers.
            assert (await _verify_get(one, 0)).status_code == 404
            assert (await _verify_get(other, 1)).status_code == 404
            assert (await _verify_get(one, 2)).status_code == 404
            assert_rate_limited(await _verify_get(other, 3))
            assert_rate_limited(await _verify_get(one, 4))
            assert (await _verify_get(bystander, 0)).status_code == 404
            # Failed authentication too: the failures on one replica spend the allowance on the other.
            for _ in range(FAILURES):
                assert (await _list(one, WRONG_KEY)).status_code == 401
            assert_rate_limited(await _list(other, WRONG_KEY))
            assert_rate_limited(await _list(other, keys["operator"]))


@pytest.mark.parametrize("settings_overrides", [{**LIMITS, "rate_limit_per_minute": 20}])
async def test_many_calls_at_once_let_exactly_the_allowance_through(
    settings: Settings, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("concurrent replicas need PostgreSQL (TEST_DATABASE_URL)")
    async with running_app(settings) as first, running_app(settings) as second:
        async with client_of(first, "1.2.3.4") as one, client_of(second, "1.2.3.4") as other:
            responses = await asyncio.gather(*(_verify_get(one if n % 2 else other, n) for n in range(100)))
        assert Counter(r.status_code for r in responses) == {404: 20, 429: 80}
        # Each hit counted once: 200 more at once on one replica give every count from 101 to 300 once.
        counter = first.state.rate_limiter.counter
        counts = await asyncio.gather(*(counter.hit("verify", "1.2.3.4") for _ in range(200)))
        assert sorted(count.hits for count in counts) == list(range(101, 301))


async def test_windows_that_ended_are_swept(app: FastAPI, is_postgres: bool) -> None:
    for n in range(5):
        async with client_of(app, f"192.0.2.{n}") as http:
            assert (await _verify_get(http, n)).status_code == 404
    # PostgreSQL keeps the windows in the table every replica reads; SQLite in the process.
    assert await _rate_limit_rows(app) == (5 if is_postgres else 0)
    clock.advance(timedelta(seconds=30))
    await app.state.worker.run_until_idle()
    assert await _rate_limit_rows(app) == (5 if is_postgres else 0)
    clock.advance(timedelta(seconds=31))
    await app.state.worker.run_until_idle()
    assert await _rate_limit_rows(app) == 0


async def test_memory_stays_bounded_however_many_addresses_call() -> None:
    """SQLite counts in memory: 200,000 addresses within a minute leave at most MAX_TRACKED windows, and an
    address that keeps calling keeps its count (the ones forgotten are those seen least recently)."""
    counter = MemoryCounter()
    for n in range(200_000):
        await counter.hit("verify", f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
        if n % 1000 == 0:
            await counter.hit("verify", "1.2.3.4")
    assert len(counter) == MAX_TRACKED
    assert (await counter.hit("verify", "1.2.3.4")).hits == 201
    assert (await counter.hit("verify", "10.3.13.63")).hits == 2  # the last of the 200,000: still counted
    assert (await counter.hit("verify", "10.0.0.1")).hits == 1  # among the first: forgotten
    assert len(counter) == MAX_TRACKED


@contextmanager
def _serve(database_url: str, tmp_path: Path, sources_file: Path, **env: str) -> Iterator[str]:
    """``python -m app serve --no-worker`` as a replica would run it; its base URL once it is ready."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PUBLIC_BASE_URL": "http://privacy.brand.test",
        "BRAND_NAME": "Test Shop",
        "CONTROLLER_ADDRESS": "Test Shop Ltd, 1 Test Street, Testville",
        "SOURCES_FILE": str(sources_file),
        "MAIL_DIR": str(tmp_path / "mail"),
        "PACKAGE_DIR": str(tmp_path / "packages"),
        "VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--no-worker"],
            env=environment,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the replica did not become ready"
                time.sleep(0.1)
            yield base_url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_two_serve_replicas_behind_a_proxy_share_the_limits(
    database_url: str, is_postgres: bool, tmp_path: Path, sources_file: Path, keys: dict[str, str]
) -> None:
    """Two `serve` processes on one PostgreSQL database, called through a proxy on the same host (trusted by
    default): the client the proxy names has one allowance across both, of calls and of failed keys."""
    if not is_postgres:
        pytest.skip("replicas share the limits through PostgreSQL; SQLite is one process (TEST_DATABASE_URL)")
    limits = {"RATE_LIMIT_PER_MINUTE": str(LIMIT), "RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": str(FAILURES)}
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(_serve(database_url, tmp_path, sources_file, **limits)) for _ in range(2)
        ]
        async with httpx.AsyncClient() as http:

            async def verify(n: int, client: str) -> httpx.Response:
                return await http.get(
                    f"{replicas[n % 2]}/v1/verify",
                    params={"token": TOKEN},
                    headers={"X-Forwarded-For": client},
                )

            async def listing(n: int, client: str, key: str) -> httpx.Response:
                return await http.get(
                    f"{replicas[n % 2]}/v1/privacy-requests",
                    headers={**bearer(key), "X-Forwarded-For": client},
                )

            for n in range(LIMIT):
                assert (await verify(n, "203.0.113.5")).status_code == 404
            assert_rate_limited(await verify(0, "203.0.113.5"))
            assert_rate_limited(await verify(1, "203.0.113.5"))
            assert (await verify(0, "203.0.113.6")).status_code == 404
            for _ in range(FAILURES):
                assert (await listing(0, "203.0.113.7", WRONG_KEY)).status_code == 401
            assert_rate_limited(await listing(1, "203.0.113.7", WRONG_KEY))
            assert_rate_limited(await listing(1, "203.0.113.7", keys["operator"]))
            assert (await listing(1, "203.0.113.8", keys["operator"])).status_code == 200
