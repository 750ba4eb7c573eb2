"""An attacker's review after issue 8: someone holding only the public app key (it ships inside the apps), a
link from someone else's email, or a page on another web site.

Each test is an attack the service now defends (the first five were open when the review was written).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from ..auth.jwks_provider import jwk_of, running_jwks_provider
from ..conftest import bearer, client_of, make_settings, role_keys, running_app
from ..customer_tokens import customer_token, ec_key, rsa_key, signed_in
from ..helpers import mailbox

VICTIM = "ada@example.com"  # cus_1 in the test CRM
VICTIM_ID = "cus_1"
STRANGER = "nobody-at-all@example.org"  # has never asked for anything


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def _post(
    client: httpx.AsyncClient, key: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/v1/privacy-requests", json=body, headers={**bearer(key), **(headers or {})})


def _mail_to(app: FastAPI, address: str) -> int:
    return sum(1 for message in mailbox(app.state.ctx.settings.mail_dir) if str(message["To"]) == address)


# --- Fixed: the "open request" answer tells an app-key holder about another person -------------------------


@pytest.mark.parametrize("type_", ["access", "deletion"])
async def test_an_app_key_cannot_learn_that_someone_has_made_a_request(
    client: httpx.AsyncClient, keys: dict[str, str], type_: str
) -> None:
    # The victim asks from her signed-in app.
    victims = await _post(client, keys["app"], {"type": type_}, signed_in(VICTIM_ID))
    assert victims.status_code == 201
    victim_request = victims.json()["id"]

    # The attacker knows her address only, and compares it with an address that never asked for anything.
    probe = await _post(client, keys["app"], {"type": type_, "email": VICTIM})
    control = await _post(client, keys["app"], {"type": type_, "email": STRANGER})
    assert probe.status_code == control.status_code, "the status code tells who has an open request"
    assert probe.json().get("id") != victim_request, "the victim's request id is handed to a stranger"
    assert probe.json().get("received_at") != victims.json()["received_at"]

    # With that id the app role follows her request: whether she confirmed, whether it was done.
    followed = await client.get(f"/v1/privacy-requests/{victim_request}", headers=bearer(keys["app"]))
    assert followed.status_code == 404 or probe.json().get("id") != victim_request


# --- Fixed: an unproven request pre-empts the person's own -----------------------------------------------


def _gdpr_due(received_at: str) -> datetime:
    received = datetime.fromisoformat(received_at)
    return received + timedelta(days=31)


async def test_an_unproven_request_does_not_set_the_deadline_of_the_persons_own(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    forged = await _post(
        client, keys["app"], {"type": "access", "email": VICTIM, "regulation": "ccpa", "locale": "de"}
    )
    assert forged.status_code == 201

    own = await _post(
        client,
        keys["app"],
        {"type": "access", "regulation": "gdpr", "locale": "en"},
        signed_in(VICTIM_ID),
    )
    assert own.status_code in (200, 201)
    operator_view = await client.get(
        f"/v1/privacy-requests/{own.json()['id']}", headers=bearer(keys["operator"])
    )
    request = operator_view.json()
    assert request["customer"]["id"] == VICTIM_ID
    assert datetime.fromisoformat(request["due_at"]) <= _gdpr_due(own.json()["received_at"]), (
        "the signed-in customer's GDPR deadline was replaced by the stranger's 45 days"
    )
    assert request["locale"] == "en", "her emails are in the stranger's chosen language"


async def test_the_persons_own_deletion_gets_a_confirmation_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    forged = await _post(client, keys["app"], {"type": "deletion", "email": VICTIM, "locale": "de"})
    assert forged.status_code == 201
    await app.state.worker.run_until_idle()
    before = _mail_to(app, VICTIM)

    own = await _post(client, keys["app"], {"type": "deletion", "locale": "en"}, signed_in(VICTIM_ID))
    assert own.status_code in (200, 201)
    await app.state.worker.run_until_idle()
    assert _mail_to(app, VICTIM) > before, "the signed-in customer asked to be erased and got no link"


# --- Fixed: /metrics grows a series for every HTTP method anyone invents -----------------------------------


async def test_invented_http_methods_do_not_grow_the_metrics(client: httpx.AsyncClient) -> None:
    invented = [f"X{secrets.token_hex(6).upper()}" for _ in range(20)]
    for method in invented:
        response = await client.request(method, "/healthz")
        assert response.status_code == 405
    exposition = (await client.get("/metrics")).text
    leaked = [method for method in invented if method in exposition]
    assert leaked == [], f"{len(leaked)} new label values from invented methods"


# --- Open (low): one malformed customer token is a 422 "body" error, not the contract's 401 ---------------


async def test_a_deeply_nested_token_header_is_an_unauthorized_token(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    nested = _b64(b"[" * 5000) + "." + _b64(b"{}") + ".c2ln"
    response = await _post(client, keys["app"], {"type": "access"}, {"X-Customer-Token": nested})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"


# --- Defended ------------------------------------------------------------------------------------------------


async def test_an_idempotency_key_shared_by_the_app_key_never_replays_another_persons_answer(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    """Every user of an app shares its key, so keys are scoped per API key only; the fingerprint (body plus
    signed-in customer) keeps one user's first answer from being replayed to another."""
    key = {"Idempotency-Key": "same-key-in-every-install"}
    first = await _post(client, keys["app"], {"type": "deletion"}, {**key, **signed_in("cus_1")})
    assert first.status_code == 201
    other_customer = await _post(client, keys["app"], {"type": "deletion"}, {**key, **signed_in("cus_2")})
    no_token = await _post(client, keys["app"], {"type": "deletion", "email": VICTIM}, key)
    for answer in (other_customer, no_token):
        assert answer.status_code == 409, answer.text
        assert first.json()["id"] not in answer.text
    # A refused submission does not burn the key for its owner.
    refused = await _post(
        client, keys["app"], {"type": "access", "customer_id": "cus_3"}, {"Idempotency-Key": "k2"}
    )
    assert refused.status_code == 422
    retried = await _post(
        client, keys["app"], {"type": "access", "email": "alan@example.com"}, {"Idempotency-Key": "k2"}
    )
    assert retried.status_code == 201


@pytest.mark.parametrize(
    "spelling",
    [
        "ADA@EXAMPLE.COM",
        " ada@example.com ",
        "ada@ＥＸＡＭＰＬＥ.com",  # fullwidth letters: IDNA maps them to ASCII
        "Ada@Example.Com",
    ],
)
async def test_another_spelling_of_a_customers_address_mails_only_the_address_on_file(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, spelling: str
) -> None:
    first = await _post(client, keys["app"], {"type": "deletion", "email": spelling})
    assert first.status_code == 201, first.text
    again = await _post(client, keys["app"], {"type": "deletion", "email": VICTIM})
    assert again.json()["id"] == first.json()["id"], "one subject, however the address is spelled"
    await app.state.worker.run_until_idle()
    assert [str(m["To"]) for m in mailbox(app.state.ctx.settings.mail_dir)] == [VICTIM]


async def test_a_look_alike_address_is_another_person_not_the_customer(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    """A Cyrillic 'е' in the domain is another domain: the request is that address's, never cus_1's."""
    look_alike = "ada@exampl\u0435.com"
    response = await _post(client, keys["app"], {"type": "access", "email": look_alike})
    assert response.status_code == 201, response.text
    seen = await client.get(f"/v1/privacy-requests/{response.json()['id']}", headers=bearer(keys["operator"]))
    assert seen.json()["customer"] is None
    assert seen.json()["email"] != VICTIM
    await app.state.worker.run_until_idle()
    assert _mail_to(app, VICTIM) == 0


@pytest.mark.parametrize("field", ["channel", "locale", "email"])
async def test_lone_surrogates_are_refused_not_a_server_error(
    client: httpx.AsyncClient, keys: dict[str, str], field: str
) -> None:
    body = {"type": "access", "email": "x@example.org", field: "\\ud800"}
    raw = json.dumps(body).replace("\\\\ud800", "\\ud800").encode()
    response = await client.post(
        "/v1/privacy-requests",
        content=raw,
        headers={**bearer(keys["app"]), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == field


def _forged_header_tokens(attacker_jwks_url: str) -> dict[str, str]:
    intruder = rsa_key("intruder")
    public_jwk = jwk_of(intruder.public_key(), "k1", "RS256")
    claims = {"sub": VICTIM_ID}
    return {
        "jku to the attacker's keys": jwt.encode(
            {**claims, "exp": 4102444800},
            intruder,
            algorithm="RS256",
            headers={"kid": "k1", "jku": attacker_jwks_url},
        ),
        "embedded jwk": jwt.encode(
            {**claims, "exp": 4102444800},
            intruder,
            algorithm="RS256",
            headers={"kid": "k1", "jwk": public_jwk},
        ),
        "x5u": jwt.encode(
            {**claims, "exp": 4102444800},
            intruder,
            algorithm="RS256",
            headers={"kid": "k1", "x5u": attacker_jwks_url},
        ),
        "ES256 under the RSA key's kid": customer_token(
            VICTIM_ID, key=ec_key("intruder"), algorithm="ES256", kid="k1"
        ),
        "PS256 (RSA-PSS) by the real key": jwt.encode(
            {**claims, "exp": 4102444800}, rsa_key("main"), algorithm="PS256", headers={"kid": "k1"}
        ),
        "kid with a path": customer_token(VICTIM_ID, key=intruder, kid="../../k1"),
        "kid over 200 characters": customer_token(VICTIM_ID, kid="k" * 5000),
    }


@asynccontextmanager
async def _jwks_app(
    settings_dir: Path, database_url: str, sources_file: Path, url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = make_settings(
        database_url,
        settings_dir,
        sources_file,
        customer_token_public_key_file=None,
        customer_token_jwks_url=url,
    )
    async with running_app(settings) as application, client_of(application) as http:
        yield http, (await role_keys(application))["app"]


async def test_a_token_cannot_bring_its_own_key(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    """jku, jwk and x5u headers, another algorithm under a known kid, odd kids: all 401, and the service never
    fetches keys from where the token says."""
    with running_jwks_provider() as real, running_jwks_provider() as attackers:
        real.keys = [jwk_of(rsa_key("main").public_key(), "k1", "RS256")]
        attackers.keys = [jwk_of(rsa_key("intruder").public_key(), "k1", "RS256")]
        async with _jwks_app(tmp_path, database_url, sources_file, real.url) as (client, app_key):
            genuine = await _post(client, app_key, {"type": "access"}, signed_in(VICTIM_ID, kid="k1"))
            assert genuine.status_code == 201
            for case, token in _forged_header_tokens(attackers.url).items():
                response = await _post(client, app_key, {"type": "deletion"}, {"X-Customer-Token": token})
                assert response.status_code == 401, (case, response.text)
        assert attackers.fetches == 0
