"""Plain typed factories for email contexts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

RECEIVED_AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
DUE_AT = datetime(2026, 12, 30, 9, 30, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
NEW_DUE_AT = datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
BASE_URL = "https://privacy.example.com"
VERIFY_URL = f"{BASE_URL}/v1/verify?token=tok-verify-123"
DOWNLOAD_URL = f"{BASE_URL}/v1/downloads/tok-download-456"
REPORT: dict[str, Any] = {
    "sources": {
        "crm": {
            "customers": {"action": "deleted", "count": 1},
            "orders": {"action": "anonymized", "count": 3},
            "order_items": {"action": "kept", "count": 7, "reason": "Invoices are kept 7 years for tax law"},
        }
    }
}


def make_request(
    *,
    type: str = "access",
    regulation: str = "gdpr",
    email: str | None = "ada@example.com",
    locale: str = "en",
    status: str = "pending",
    received_at: datetime = RECEIVED_AT,
    due_at: datetime = DUE_AT,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "type": type,
        "status": status,
        "regulation": regulation,
        "email": email,
        "received_at": received_at,
        "due_at": due_at,
        "locale": locale,
    }


def make_context(**overrides: Any) -> dict[str, Any]:
    """A context carrying every key any kind needs."""
    request = overrides.pop("request", None) or make_request()
    context: dict[str, Any] = {
        "request": request,
        "base_url": BASE_URL,
        "verify_url": VERIFY_URL,
        "download_url": DOWNLOAD_URL,
        "expires_at": EXPIRES_AT,
        "note": "Sent on a USB stick by registered mail",
        "report": REPORT,
        "reason": "We could not identify you from the details given",
        "new_due_at": NEW_DUE_AT,
        "requests": [request],
        "threshold": timedelta(days=7),
        "error": "crm: legal hold on the customer's account",
    }
    context.update(overrides)
    return context
