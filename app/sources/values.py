"""Turning database values into JSON-safe ones, and the anonymisation functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from app.durations import format_duration

REDACTED = "[redacted]"
ColumnStrategy = Literal["null", "redact", "hash"]
_HASH = re.compile(r"^[0-9a-f]{64}$")
# The common types, checked by exact type first: this runs for every value of every exported row.
_PLAIN = frozenset({str, int, bool})


def json_safe(value: Any) -> Any:
    """A JSON-serialisable form of a database value: ISO 8601 times, decimals as exact strings, bytes as base64."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; they are rare enough to carry as text.
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def json_record(row: dict[str, Any]) -> dict[str, Any]:
    """A record with every value JSON-safe."""
    return {str(key): json_safe(value) for key, value in row.items()}


def hash_value(value: Any, *, secret_key: str) -> str:
    """HMAC-SHA256 of the value's text under the secret key, hex: the same input always gives the same output,
    so anonymised rows can still be grouped, but the value cannot be recovered without the key."""
    text = value if isinstance(value, str) else str(json_safe(value))
    return hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()


def is_hash(value: Any) -> bool:
    """Whether a value already looks like our HMAC output (so a retried erasure does not hash it twice)."""
    return isinstance(value, str) and _HASH.match(value) is not None


def anonymized(strategy: ColumnStrategy, value: Any, *, secret_key: str) -> Any:
    """The anonymised form of one value. Idempotent: anonymising an anonymised value changes nothing."""
    if value is None or strategy == "null":
        return None
    if strategy == "redact":
        return REDACTED
    return value if is_hash(value) else hash_value(value, secret_key=secret_key)


def is_anonymized(strategy: ColumnStrategy, value: Any) -> bool:
    """Whether a value read back after erasure holds what the strategy leaves."""
    if value is None:
        return True
    if strategy == "null":
        return False
    if strategy == "redact":
        return bool(value == REDACTED)
    return is_hash(value)
