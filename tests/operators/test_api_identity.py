"""The API knows the person: a Bearer OIDC access token, or an admin API key with X-Operator; every timeline
entry names them. CORS_ORIGINS admits the listed browser origins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from app.auth.operators import find_by_email

from ..conftest import bearer
from ..helpers import submit
from .conftest import add_operator
from .oidc_provider import CLIENT_ID, KID, OidcProvider, Person

GRACE = Person(email="grace@brand.test", name="Grace Hopper", role="operator")


def _claims(idp: OidcProvider, claims: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": idp.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, **claims}


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")


def _unsigned(claims: dict[str, Any], idp: OidcProvider) -> str:
    """alg "none": no signature at all."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_b64(_claims(idp, claims))}."


def _hs256_with_the_public_key(idp: OidcProvider) -> str:
    """The classic confusion: HMAC "signed" with the provider's public key, which anyone can fetch."""
    public = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = _claims(idp, {"email": "x@brand.test", "role": "admin"})
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": KID})
    signing_input = f"{header}.{_b64(body)}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def _signed_by(key: rsa.RSAPrivateKey, idp: OidcProvider, *, kid: str) -> str:
    """A well-formed RS256 token signed by a key that is not the provider's."""
    body = _claims(idp, {"email": "x@brand.test", "role": "admin"})
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


async def actors(client: httpx.AsyncClient, key: str, request_id: str, action: str) -> list[str]:
    detail = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    return [event["actor"] for event in detail.json()["events"] if event["action"] == action]


async def test_an_oidc_access_token_calls_the_api_as_the_person(
    client: httpx.AsyncClient, app: FastAPI, idp: OidcProvider, keys: dict[str, str]
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    token = idp.access_token(GRACE)
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    extended = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "Many systems."},
        headers=bearer(token),
    )
    assert extended.status_code == 200, extended.text
    assert await actors(client, keys["operator"], request["id"], "extended") == [
        "Grace Hopper <grace@brand.test>"
    ]
    # The role is the claim's: an operator is not an admin.
    too_low = await client.get("/v1/api-keys", headers=bearer(token))
    assert too_low.status_code == 403
    assert too_low.json()["detail"] == "This action needs the 'admin' role; this person has 'operator'."
    admin = idp.access_token(Person(email="ops@brand.test", name="Ops", role="admin"))
    assert (await client.get("/v1/api-keys", headers=bearer(admin))).status_code == 200


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (lambda idp: idp.access_token(GRACE, audience="another-app"), "the token is for another audience"),
        (lambda idp: idp.access_token(GRACE, ttl=-120), "the token has expired"),
        (
            lambda idp: idp.mint({"email": "x@brand.test", "role": "admin"}, iss="https://evil.example"),
            "another issuer",
        ),
        (lambda idp: "not.a.jwt", "the token is malformed"),
        # An ID token (it carries the sign-in's nonce; its aud is the client id, the default OIDC_AUDIENCE):
        # a sign-in proof handed to the browser is no credential for the API.
        (
            lambda idp: idp.mint(
                {
                    "sub": "g",
                    "email": "grace@brand.test",
                    "role": "admin",
                    "nonce": "n0nce",
                    "email_verified": True,
                }
            ),
            "an ID token, not an access token",
        ),
        (lambda idp: _unsigned({"email": "x@brand.test", "role": "admin"}, idp), "must be signed with RS256"),
        (lambda idp: _hs256_with_the_public_key(idp), "must be signed with RS256"),
        (
            lambda idp: _signed_by(rsa.generate_private_key(65537, 2048), idp, kid=KID),
            "signature is not valid",
        ),
        (
            lambda idp: _signed_by(rsa.generate_private_key(65537, 2048), idp, kid="unknown-kid"),
            "signed with an unknown key",
        ),
    ],
)
async def test_bad_access_tokens_are_refused(
    client: httpx.AsyncClient, idp: OidcProvider, make: Any, detail: str
) -> None:
    response = await client.get("/v1/stats", headers=bearer(make(idp)))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert detail in response.json()["detail"]


async def test_a_person_the_provider_gives_no_cockpit_role_is_forbidden(
    client: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    token = idp.access_token(Person("eve@brand.test", "Eve", "marketing"))
    response = await client.get("/v1/stats", headers=bearer(token))
    assert response.status_code == 403  # a genuine token, a known person: authenticated, not allowed
    assert response.json()["error"] == "forbidden"
    assert "no cockpit role" in response.json()["detail"]
    async with app.state.sessionmaker() as session:
        assert await find_by_email(session, "eve@brand.test") is None  # no operator made for her


async def test_a_removed_operators_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    token = idp.access_token(GRACE)
    assert (await client.get("/v1/stats", headers=bearer(token))).status_code == 200
    async with app.state.sessionmaker() as session, session.begin():
        from app.auth.operators import remove_operator

        await remove_operator(session, "grace@brand.test")
    refused = await client.get("/v1/stats", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json() == {"error": "forbidden", "detail": "grace@brand.test was removed as an operator."}


async def test_x_operator_with_an_admin_key_names_the_person(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    url = f"/v1/privacy-requests/{request['id']}/extend"
    acting = {**bearer(keys["admin"]), "X-Operator": "Grace@Brand.test"}
    done = await client.post(url, json={"reason": "Many systems."}, headers=acting)
    assert done.status_code == 200, done.text
    assert await actors(client, keys["operator"], request["id"], "extended") == [
        "Grace Hopper <grace@brand.test>"
    ]
    # The call has the person's role: Grace is an operator, not an admin.
    assert (await client.get("/v1/api-keys", headers=acting)).status_code == 403

    with_operator_key = await client.get(
        "/v1/stats", headers={**bearer(keys["operator"]), "X-Operator": "grace@brand.test"}
    )
    assert with_operator_key.status_code == 403
    assert with_operator_key.json() == {"error": "forbidden", "detail": "X-Operator needs an admin API key."}
    unknown = await client.get(
        "/v1/stats", headers={**bearer(keys["admin"]), "X-Operator": "nobody@brand.test"}
    )
    assert unknown.status_code == 403
    assert unknown.json()["detail"] == "X-Operator names no active operator."


class TestCors:
    @pytest.fixture
    def settings_overrides(self, settings_overrides: dict[str, Any]) -> dict[str, Any]:
        return {**settings_overrides, "cors_origins": "https://cockpit.brand.test, https://ops.brand.test/"}

    async def test_listed_origins_may_call_and_others_not(self, client: httpx.AsyncClient) -> None:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        }
        allowed = await client.options("/v1/stats", headers={"Origin": "https://ops.brand.test", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ops.brand.test"
        assert "access-control-allow-credentials" not in allowed.headers
        other = await client.options("/v1/stats", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in other.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stats", headers={"Origin": "https://cockpit.brand.test"})
    assert "access-control-allow-origin" not in response.headers


async def test_a_long_name_is_shortened_to_fit_the_timeline_never_the_email(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str]
) -> None:
    email = "maria.theresia.walburga.amalia.christiana@brand.test"
    await add_operator(app, email, "Maria Theresia Walburga Amalia Christiana von Habsburg-Lothringen")
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    done = await client.post(
        f"/v1/privacy-requests/{request['id']}/extend",
        json={"reason": "Many systems."},
        headers={**bearer(keys["admin"]), "X-Operator": email},
    )
    assert done.status_code == 200, done.text
    [actor] = await actors(client, keys["operator"], request["id"], "extended")
    assert actor.startswith("Maria Theresia Walburga Amalia Christiana")
    assert actor.endswith(f"… <{email}>")
    assert len(actor) == 100


async def test_an_unreachable_identity_provider_is_a_503_and_is_not_asked_on_every_call(
    client: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    idp.down = True
    token = idp.access_token(GRACE)
    answers = [await client.get("/v1/stats", headers=bearer(token)) for _ in range(20)]
    assert {answer.status_code for answer in answers} == {503}
    assert answers[0].json()["error"] == "unavailable"
    # A failed fetch counts as a fetch: the provider in trouble is asked again only after the refetch interval
    # (30 s), not once per token (a burst would otherwise become a load generator against it).
    assert idp.discovery_requests == 1, idp.discovery_requests
