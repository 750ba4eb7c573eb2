"""RECORDS_RETENTION (contract section 7): once a request has been closed that long, the person's details in
it are replaced by masked forms and a keyed hash; what happened, who did it and when stay on record."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import SYSTEM
from app.manual import repository as manual
from app.models import CLOSED_AT, PrivacyRequest
from app.requests import repository

REDACTED = "[redacted]"


def mask_email(address: str) -> str:
    """``ada@example.com`` -> ``a***@example.com``: enough to tell addresses apart on a screen, not to write."""
    local, at, domain = address.strip().rpartition("@")
    if not at:
        return domain[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """``Ada Lovelace`` -> ``A*** L***``."""
    return " ".join(word[:1] + "***" for word in name.split()) or "***"


def email_hash(address: str, *, secret_key: str) -> str:
    """HMAC-SHA256 (SECRET_KEY) of the address as submitted addresses are stored (trimmed, lower case), hex:
    an operator asked about an address can still find its redacted requests, nobody can read one back."""
    return hmac.new(secret_key.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()


def redacted_values(request: PrivacyRequest, *, secret_key: str, now: datetime) -> dict[str, Any]:
    """The columns of ``request`` as they are kept after RECORDS_RETENTION."""
    address = request.email or request.customer_email
    hashed = email_hash(address, secret_key=secret_key) if address else None
    values: dict[str, Any] = {
        "email": mask_email(request.email) if request.email else None,
        "customer_email": mask_email(request.customer_email) if request.customer_email else None,
        "customer_name": mask_name(request.customer_name) if request.customer_name else None,
        "email_hash": hashed,
        # "c:<customer id>" names no one by itself; "e:<email>" would keep the address.
        # A customer's subject holds only the id; an address subject ("e:", unproven "u:") holds the address.
        "subject": request.subject if request.subject.startswith("c:") else f"h:{hashed or request.id}",
        "redacted_at": now,
    }
    if isinstance(request.result, dict) and "reasons" in request.result:
        # Failure reasons are free text from the data sources, which may quote the person's data.
        values["result"] = {**request.result, "reasons": [REDACTED for _ in request.result["reasons"]]}
    return values


async def redact_closed(
    session: AsyncSession, *, secret_key: str, closed_before: datetime, now: datetime, limit: int
) -> int:
    """Redact up to ``limit`` requests per closed status that closed at or before ``closed_before``; each is
    redacted once, its timeline keeping its events (actions, actors, times, fixed details) and losing only their
    free texts, which may name the person. How many."""
    redacted = 0
    for status in CLOSED_AT:
        due = await repository.closed_unredacted(
            session, status=status, closed_before=closed_before, limit=limit
        )
        for request in due:
            values = redacted_values(request, secret_key=secret_key, now=now)
            if not await repository.redact(session, request.id, values=values):
                continue
            await timeline.clear_texts(session, request.id)
            await manual.clear_notes(session, request.id, replacement=REDACTED)
            timeline.record(session, request_id=request.id, action="redacted", actor=SYSTEM)
            redacted += 1
    return redacted
