"""Small helpers for endpoint tests: submit, act, read the outbox."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from .conftest import bearer


async def submit(
    client: httpx.AsyncClient, key: str, *, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/privacy-requests", json=body, headers={**bearer(key), **(headers or {})}
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def accept(client: httpx.AsyncClient, key: str, request_id: str, handling: str) -> dict[str, Any]:
    """An operator accepts the request with ``handling`` (automatic or manual); the request as it now is."""
    response = await client.post(
        f"/v1/privacy-requests/{request_id}/accept", json={"handling": handling}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def detail(client: httpx.AsyncClient, key: str, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def mailbox(mail_dir: Path) -> list[EmailMessage]:
    """Every email the file transport wrote, oldest first."""
    # A name starting with a dot is a message being written (the mailbox renames it into place when complete).
    written = [p for p in mail_dir.glob("*.eml") if not p.name.startswith(".")] if mail_dir.exists() else []
    files = sorted(written, key=lambda p: p.stat().st_mtime_ns)
    messages = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def mail_with_subject(mail_dir: Path, fragment: str) -> EmailMessage:
    """The one email whose subject contains ``fragment`` (the worker sends concurrently: order is not fixed)."""
    matches = [m for m in mailbox(mail_dir) if fragment.lower() in str(m["Subject"]).lower()]
    assert len(matches) == 1, [str(m["Subject"]) for m in mailbox(mail_dir)]
    return matches[0]


# What the ``hash`` erase strategy (contract section 6: HMAC-SHA256 with SECRET_KEY, hex) makes of the
# addresses the tests erase, under the tests' SECRET_KEY (conftest.SECRET). Computed once, outside Python, with
#   printf %s 'ada@example.com' | openssl dgst -sha256 -hmac 'test-secret-key-0123456789abcdef'
HASHED = {
    "ada@example.com": "bbb3f97c82db45298634c7a6663ba43043430008a9293cf20ea584ff3d2438c3",
    "Ada@Example.com": "c62ae02bf49589c8976a729cb53ec56f100acb887844fad0c03e9ecc2fa11023",
    "ADA@example.com": "4facae581dd7cf86cd635ff3ea98ada51224ee8fe0c9bc79963d13b4425f39c6",
}


async def emails_table(app: FastAPI) -> list[dict[str, Any]]:
    """Every row of ``emails``, oldest first, as an operator with database access reads it."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(text("SELECT * FROM emails ORDER BY created_at"))
        return [dict(row._mapping) for row in rows]
