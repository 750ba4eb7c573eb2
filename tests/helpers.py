"""Small helpers for endpoint tests: submit, act, read the outbox."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from .conftest import SECRET, bearer


async def submit(
    client: httpx.AsyncClient, key: str, *, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        "/v1/privacy-requests", json=body, headers={**bearer(key), **(headers or {})}
    )
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


async def detail(client: httpx.AsyncClient, key: str, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def mailbox(mail_dir: Path) -> list[EmailMessage]:
    """Every email the file transport wrote, oldest first."""
    files = sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if mail_dir.exists() else []
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


def hmac_hex(value: str) -> str:
    """How the service pseudonymises a value under the tests' SECRET_KEY (the ``hash`` strategy)."""
    return hmac.new(SECRET.encode(), value.encode(), hashlib.sha256).hexdigest()
