"""Search (``q``): an email address or its beginning, in any case, or a customer id exactly; on PostgreSQL
answered by an index."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from app.models import PrivacyRequest
from app.requests import repository

from ..conftest import bearer
from ..helpers import submit


async def _search(client: httpx.AsyncClient, key: str, **params: Any) -> list[str]:
    response = await client.get("/v1/privacy-requests", params=params, headers=bearer(key))
    assert response.status_code == 200, response.text
    return sorted(item["email"] or item["customer"]["email"] for item in response.json()["items"])


@pytest.fixture
async def people(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    for address in ("Ada.King@example.org", "adam@example.net", "bob@example.org", "a_b@example.org"):
        await submit(client, keys["app"], type="access", email=address)
    await submit(client, keys["app"], type="deletion", email="axb@example.org")
    # An operator records a request for a customer of the directory (cus_2, grace@example.com).
    await submit(client, keys["operator"], type="access", customer_id="cus_2", note="Signed letter.")


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("ada", ["ada.king@example.org", "adam@example.net"]),
        ("ADA.KING@EXAMPLE.ORG", ["ada.king@example.org"]),
        ("  adam@  ", ["adam@example.net"]),
        ("a_b", ["a_b@example.org"]),  # "_" is itself, not any character
        ("%", []),
        ("cus_2", ["grace@example.com"]),
        ("cus_", []),  # a customer id matches exactly
        ("example.org", []),  # the beginning of an address, not any part
    ],
)
async def test_search_by_email_or_customer_id(
    client: httpx.AsyncClient, keys: dict[str, str], q: str, found: list[str]
) -> None:
    assert await _search(client, keys["operator"], q=q) == found


@pytest.mark.usefixtures("people")
async def test_search_combines_with_the_other_filters(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    assert await _search(client, keys["operator"], q="a", type="deletion") == ["axb@example.org"]
    assert await _search(client, keys["operator"], q="a", status="unverified") == ["axb@example.org"]
    assert await _search(client, keys["operator"], q="a", type="access") == [
        "a_b@example.org",
        "ada.king@example.org",
        "adam@example.net",
    ]


@pytest.mark.parametrize("q", ["", "   ", "ada\x00", "x" * 321])
async def test_a_bad_search_is_refused(client: httpx.AsyncClient, keys: dict[str, str], q: str) -> None:
    response = await client.get("/v1/privacy-requests", params={"q": q}, headers=bearer(keys["operator"]))
    assert response.status_code == 422, response.text
    assert response.json()["fields"][0]["field"] == "q"


async def test_the_search_uses_an_index(app: FastAPI, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("the plan that matters is PostgreSQL's")
    query = select(PrivacyRequest.id).where(repository.search_condition("ada", None))
    async with app.state.sessionmaker() as session:
        # An empty table is cheapest to read whole: forbid that, to see what the indexes can answer.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_privacy_requests_email_received_at" in plan, plan
    assert "ix_privacy_requests_customer_id_received_at" in plan, plan
