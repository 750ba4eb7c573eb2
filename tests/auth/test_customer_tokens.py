"""Customer tokens (contract section 7): verified with a real JWKS endpoint or a PEM key; every bad token is a
401 and records nothing; RS256 and ES256 only."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from app.core.config import ConfigError, Settings, load_settings

from ..conftest import bearer, client_of, make_settings, role_keys, running_app
from ..customer_tokens import TEST_ISSUER, customer_token, ec_key, public_key_file, public_pem, rsa_key
from .jwks_provider import JwksProvider, jwk_of, running_jwks_provider

AUDIENCE = "brand-app"
ACCESS = {"type": "access"}


@pytest.fixture
def provider() -> Iterator[JwksProvider]:
    with running_jwks_provider() as running:
        running.keys = [jwk_of(rsa_key("main").public_key(), "k1", "RS256")]
        yield running


@pytest.fixture
def settings_overrides(provider: JwksProvider) -> dict[str, Any]:
    return {
        "customer_token_public_key_file": None,
        "customer_token_jwks_url": provider.url,
        "customer_token_issuer": TEST_ISSUER,
        "customer_token_audience": AUDIENCE,
    }


def token(customer_id: str = "cus_1", **options: Any) -> str:
    options.setdefault("kid", "k1")
    options.setdefault("iss", TEST_ISSUER)
    options.setdefault("aud", AUDIENCE)
    return customer_token(customer_id, **options)


async def post(client: httpx.AsyncClient, key: str, customer_token: str | None) -> httpx.Response:
    headers = bearer(key)
    if customer_token is not None:
        headers["X-Customer-Token"] = customer_token
    return await client.post("/v1/privacy-requests", json=ACCESS, headers=headers)


async def recorded(client: httpx.AsyncClient, keys: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/v1/privacy-requests", headers=bearer(keys["operator"]))
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_valid_token_from_the_jwks_makes_the_request_the_customers(
    client: httpx.AsyncClient, keys: dict[str, str], provider: JwksProvider
) -> None:
    response = await post(client, keys["app"], token("cus_2"))
    assert response.status_code == 201, response.text
    [item] = await recorded(client, keys)
    assert item["customer"]["id"] == "cus_2"
    assert item["email"] == "grace@example.com"
    assert provider.fetches == 1
    again = await client.post(
        "/v1/privacy-requests",
        json={"type": "deletion"},
        headers={**bearer(keys["app"]), "X-Customer-Token": token("cus_2")},
    )
    assert again.status_code == 201
    assert provider.fetches == 1, "known keys are cached"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_tokens() -> dict[str, str]:
    other = rsa_key("intruder")
    unsigned = (
        _b64({"alg": "none", "typ": "JWT", "kid": "k1"})
        + "."
        + _b64({"sub": "cus_1", "exp": 4102444800, "iss": TEST_ISSUER, "aud": AUDIENCE})
        + "."
    )
    return {
        "expired": token(expires_in=-60),
        "not yet valid": token(not_before=3600),
        "signed by another key": token(key=other),
        "alg none": unsigned,
        "HS256 with the public key as secret": _hs256_with_public_key(),
        "other issuer": token(iss="https://evil.example"),
        "other audience": token(aud="another-app"),
        "no subject": customer_token(None, kid="k1", iss=TEST_ISSUER, aud=AUDIENCE),
        "no expiry": _without_exp(),
        "garbage": "not.a.jwt",
        "empty": "",
        "unknown kid": token(kid="k-unknown"),
        "huge": "a" * 20000,
    }


def _hs256_with_public_key() -> str:
    """The classic confusion: an HMAC token whose "secret" is the provider's public key (PyJWT refuses to sign
    one, as it should, so it is forged by hand)."""
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "k1"})
    payload = _b64({"sub": "cus_1", "exp": 4102444800, "iss": TEST_ISSUER, "aud": AUDIENCE})
    signature = hmac.new(public_pem(rsa_key("main")), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}." + base64.urlsafe_b64encode(signature).decode().rstrip("=")


def _without_exp() -> str:
    return jwt.encode(
        {"sub": "cus_1", "iss": TEST_ISSUER, "aud": AUDIENCE},
        rsa_key("main"),
        algorithm="RS256",
        headers={"kid": "k1"},
    )


@pytest.mark.parametrize("case", list(_bad_tokens()))
async def test_every_bad_token_is_401_and_records_nothing(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, case: str
) -> None:
    response = await post(client, keys["app"], _bad_tokens()[case])
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"] == "unauthorized"
    assert "X-Customer-Token" in response.json()["detail"]
    assert await recorded(client, keys) == []
    assert await app.state.worker.run_until_idle() == 0, "no email for a refused submission"


async def test_an_unknown_kid_refetches_the_keys_once_so_a_rotated_key_works(
    database_url: str, tmp_path: Path, sources_file: Path, provider: JwksProvider
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        sources_file,
        customer_token_public_key_file=None,
        customer_token_jwks_url=provider.url,
        customer_token_jwks_refetch_interval="PT0.2S",
    )
    async with _client(settings) as (client, keys):
        assert (await post(client, keys["app"], token("cus_1"))).status_code == 201
        assert provider.fetches == 1
        # The provider rotates: a new key k2 (EC, ES256) is published, k1 is withdrawn.
        provider.keys = [jwk_of(ec_key("rotated").public_key(), "k2", "ES256")]
        await asyncio.sleep(0.3)
        rotated = token("cus_2", kid="k2", key=ec_key("rotated"), algorithm="ES256")
        assert (await post(client, keys["app"], rotated)).status_code == 201
        assert provider.fetches == 2, "one refetch for the unknown kid"
        assert (await post(client, keys["app"], rotated)).status_code == 200, "same customer: the open one"
        assert provider.fetches == 2


async def test_a_burst_of_tokens_with_unknown_kids_does_not_refetch_each_time(
    client: httpx.AsyncClient, keys: dict[str, str], provider: JwksProvider
) -> None:
    assert (await post(client, keys["app"], token("cus_1"))).status_code == 201
    answers = await asyncio.gather(
        *(post(client, keys["app"], token("cus_1", kid=f"forged-{n}")) for n in range(40))
    )
    assert {a.status_code for a in answers} == {401}
    assert provider.fetches <= 2, f"{provider.fetches} fetches for 40 forged kids"


async def test_a_key_set_with_no_usable_key_is_a_401_not_a_503(
    client: httpx.AsyncClient, keys: dict[str, str], provider: JwksProvider
) -> None:
    provider.keys = []  # the provider answers, with nothing we may use
    for _ in range(2):  # the second within the refetch interval
        response = await post(client, keys["app"], token("cus_1"))
        assert response.status_code == 401, response.text


async def test_keys_that_cannot_be_fetched_are_503_not_a_401(
    client: httpx.AsyncClient, keys: dict[str, str], provider: JwksProvider
) -> None:
    provider.down = True
    response = await post(client, keys["app"], token("cus_1"))
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert await recorded(client, keys) == []


async def test_an_hmac_key_in_the_jwks_is_never_used(
    client: httpx.AsyncClient, keys: dict[str, str], provider: JwksProvider
) -> None:
    secret = b"shared-secret-of-thirty-two-bytes!!"
    provider.keys.append(
        {"kty": "oct", "kid": "hs", "k": base64.urlsafe_b64encode(secret).decode().rstrip("=")}
    )
    forged = jwt.encode(
        {"sub": "cus_1", "exp": 4102444800, "iss": TEST_ISSUER, "aud": AUDIENCE},
        secret,
        algorithm="HS256",
        headers={"kid": "hs"},
    )
    assert (await post(client, keys["app"], forged)).status_code == 401


async def test_a_pem_key_verifies_es256_tokens_and_a_custom_claim(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        sources_file,
        customer_token_public_key_file=public_key_file("main", "ec"),
        customer_token_claim="customer_id",
    )
    async with _client(settings) as (client, keys):
        good = customer_token("cus_3", key=ec_key("main"), algorithm="ES256", claim="customer_id")
        assert (await post(client, keys["app"], good)).status_code == 201
        [item] = await recorded(client, keys)
        assert item["customer"]["id"] == "cus_3"
        rsa_signed = customer_token("cus_3", claim="customer_id")
        assert (await post(client, keys["app"], rsa_signed)).status_code == 401, "RS256 against an EC key"
        sub_only = customer_token("cus_3", key=ec_key("main"), algorithm="ES256")
        assert (await post(client, keys["app"], sub_only)).status_code == 401, (
            "the configured claim is missing"
        )


async def test_required_tokens_refuse_app_submissions_without_one(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    settings = make_settings(database_url, tmp_path, sources_file, customer_token_required=True)
    async with _client(settings) as (client, keys):
        without = await client.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": "ada@example.com"},
            headers=bearer(keys["app"]),
        )
        assert without.status_code == 401
        assert without.json()["error"] == "unauthorized"
        nobody = await client.post(
            "/v1/privacy-requests", json={"type": "access"}, headers=bearer(keys["app"])
        )
        assert nobody.status_code == 401, "a missing token, not a missing field"
        operator = await client.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": "ada@example.com"},
            headers=bearer(keys["operator"]),
        )
        assert operator.status_code == 201, "operators enter requests without a customer token"
        signed_in = await post(client, keys["app"], customer_token("cus_2"))
        assert signed_in.status_code == 201


def test_a_bad_key_file_stops_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    monkeypatch.setenv("CUSTOMER_TOKEN_PUBLIC_KEY_FILE", str(bad))
    with pytest.raises(ConfigError, match="CUSTOMER_TOKEN_PUBLIC_KEY_FILE"):
        load_settings()


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The real app with these settings and one key per role (for tests whose settings differ per case)."""
    async with running_app(settings) as application, client_of(application) as http:
        yield http, await role_keys(application)
