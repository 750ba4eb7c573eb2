"""Keys and roles: 401 without a valid key, 403 when the role is too low, revocation at once."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from ..conftest import bearer
from ..helpers import submit

ID = "00000000-0000-0000-0000-000000000001"
# (method, path, body, lowest role)
ENDPOINTS = [
    ("POST", "/v1/privacy-requests", {"type": "access", "email": "x@example.org"}, "app"),
    ("GET", f"/v1/privacy-requests/{ID}", None, "app"),
    ("GET", "/v1/privacy-requests", None, "operator"),
    ("POST", f"/v1/privacy-requests/{ID}/accept", {"handling": "manual"}, "operator"),
    ("POST", f"/v1/privacy-requests/{ID}/fulfil", {}, "operator"),
    ("DELETE", f"/v1/privacy-requests/{ID}?reason=x", None, "operator"),
    ("POST", f"/v1/privacy-requests/{ID}/extend", {"reason": "x"}, "operator"),
    ("POST", f"/v1/privacy-requests/{ID}/resend-verification", None, "operator"),
    ("GET", f"/v1/privacy-requests/{ID}/data", None, "operator"),
    ("GET", "/v1/customers/cus_1", None, "operator"),
    ("GET", "/v1/stats", None, "operator"),
    ("GET", "/v1/api-keys", None, "admin"),
    ("POST", "/v1/api-keys", {"name": "n", "role": "app"}, "admin"),
    ("DELETE", f"/v1/api-keys/{ID}", None, "admin"),
]
RANK = {"app": 0, "operator": 1, "admin": 2}


@pytest.mark.parametrize(("method", "path", "body", "lowest"), ENDPOINTS)
async def test_role_matrix(
    client: httpx.AsyncClient, keys: dict[str, str], method: str, path: str, body: object, lowest: str
) -> None:
    for headers in ({}, bearer("prk_unknown"), {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"] == "unauthorized"
    for role, key in keys.items():
        response = await client.request(method, path, json=body, headers=bearer(key))
        if RANK[role] < RANK[lowest]:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"] == "forbidden"
        else:
            assert response.status_code not in (401, 403), (role, response.text)


async def test_keys_are_created_listed_and_revoked_at_once(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    created = await client.post(
        "/v1/api-keys", json={"name": "ios-app", "role": "app"}, headers=bearer(keys["admin"])
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("prk_")
    await submit(client, key, type="access", email="x@example.org")
    listing = await client.get("/v1/api-keys", headers=bearer(keys["admin"]))
    assert "key" not in listing.json()[0]
    assert key not in listing.text
    assert "ios-app" in [k["name"] for k in listing.json()]
    revoked = await client.delete(f"/v1/api-keys/{created.json()['id']}", headers=bearer(keys["admin"]))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await client.post(
        "/v1/privacy-requests", json={"type": "access", "email": "y@example.org"}, headers=bearer(key)
    )
    assert refused.status_code == 401
    from sqlalchemy import text

    async with app.state.sessionmaker() as session:
        stored = (await session.execute(text("SELECT key_hash FROM api_keys"))).scalars().all()
    assert key not in stored, "only hashes are stored"
    assert all(len(h) == 64 for h in stored)


async def test_bad_key_bodies(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    bad_role = await client.post(
        "/v1/api-keys", json={"name": "x", "role": "root"}, headers=bearer(keys["admin"])
    )
    assert bad_role.status_code == 422
    missing = await client.delete(
        "/v1/api-keys/00000000-0000-0000-0000-000000000009", headers=bearer(keys["admin"])
    )
    assert missing.status_code == 404
