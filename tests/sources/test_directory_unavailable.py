"""A directory source that is down: 503 with Retry-After on submit and on the customer view, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.db import unit_of_work
from app.models import Email, IdempotencyKey, Job, PrivacyRequest

from ..conftest import bearer
from ..factories import write_crm
from ..notifications.smtp_server import free_port

ACCESS = {"type": "access", "email": "x@example.com"}


@pytest.fixture(params=["garbage_sqlite_file", "closed_postgresql_port"])
def sources_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The CRM directory, broken: its SQLite file overwritten with garbage, or a PostgreSQL URL (with a
    password) to a port nothing listens on."""
    path = write_crm(tmp_path / "crm")
    if request.param == "garbage_sqlite_file":
        (path.parent / "crm.db").write_bytes(b"this is not a database\n" * 400)
    else:
        url = f"postgresql+psycopg://crm:hunter2-secret@127.0.0.1:{free_port()}/crm"
        text = path.read_text()
        path.write_text(text.replace(f"sqlite:///{path.parent / 'crm.db'}", url))
    return path


def assert_unavailable(response: httpx.Response, tmp_path: Path) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == "unavailable"
    assert "'crm'" in body["detail"]
    # No secret and nothing of the source's whereabouts.
    for leak in ("hunter2", "127.0.0.1", str(tmp_path), "crm.db", "not a database"):
        assert leak not in body["detail"]


async def count(app: FastAPI, model: type[object]) -> int:
    async with unit_of_work(app.state.sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_submit_and_customer_view_answer_503_and_write_nothing(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], tmp_path: Path
) -> None:
    operator = bearer(keys["operator"])

    submitted = await client.post("/v1/privacy-requests", json=ACCESS, headers=operator)
    assert_unavailable(submitted, tmp_path)
    keyed = await client.post(
        "/v1/privacy-requests",
        json={"type": "deletion", "email": "x@example.com"},
        headers={**bearer(keys["app"]), "Idempotency-Key": "outage-1"},
    )
    assert_unavailable(keyed, tmp_path)
    customer = await client.get("/v1/customers/cus_1", headers=operator)
    assert_unavailable(customer, tmp_path)

    listing = await client.get("/v1/privacy-requests", headers=operator)
    assert listing.status_code == 200
    assert listing.json()["items"] == []
    for model in (PrivacyRequest, Email, Job, IdempotencyKey):
        assert await count(app, model) == 0, model


@pytest.mark.parametrize("sources_file", ["garbage_sqlite_file"], indirect=True)
async def test_once_the_directory_is_back_the_same_submit_succeeds(
    client: httpx.AsyncClient, keys: dict[str, str], sources_file: Path, tmp_path: Path
) -> None:
    headers = {**bearer(keys["operator"]), "Idempotency-Key": "outage-2"}
    down = await client.post("/v1/privacy-requests", json=ACCESS, headers=headers)
    assert_unavailable(down, tmp_path)

    healthy = write_crm(tmp_path / "healthy")
    shutil.copy(healthy.parent / "crm.db", sources_file.parent / "crm.db")

    again = await client.post("/v1/privacy-requests", json=ACCESS, headers=headers)
    assert again.status_code == 201, again.text
    customer = await client.get("/v1/customers/cus_1", headers=bearer(keys["operator"]))
    assert customer.status_code == 200, customer.text
    assert customer.json()["email"] == "ada@example.com"
