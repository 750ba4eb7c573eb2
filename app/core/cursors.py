"""Opaque keyset cursors for paged lists: a position (a time and an id, and the list's sort order where it has
one), written as URL-safe base64 JSON. Only a cursor this API wrote is accepted back."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from app.core import clock
from app.core.errors import ValidationFailed

INVALID = "The cursor is not one this API returned."
OTHER_SORT = "The cursor belongs to another sort order."


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after (or before) the row with this key and id."""

    key: datetime
    id: uuid.UUID
    sort: str | None = None


def encode(position: Position) -> str:
    raw: dict[str, str] = {"k": clock.as_utc(position.key).isoformat(), "i": str(position.id)}
    if position.sort is not None:
        raw["s"] = position.sort
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def decode(text: str, *, sort: str | None = None) -> Position:
    """The position ``text`` holds; 422 for anything :func:`encode` did not write for this ``sort``."""
    fields = {"k", "i"} if sort is None else {"s", "k", "i"}
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        # Exactly the object encode writes: strings only (a tampered one may hold any JSON at all).
        if not isinstance(raw, dict) or raw.keys() != fields:
            raise ValueError("not a cursor object")
        if not all(isinstance(value, str) for value in raw.values()):
            raise ValueError("cursor fields are not strings")
        position = Position(
            key=clock.as_utc(datetime.fromisoformat(raw["k"])), id=uuid.UUID(raw["i"]), sort=raw.get("s")
        )
        # Only what this API hands out: re-encoding gives the same text (no other spelling of a time or id).
        if encode(position) != text.rstrip("="):
            raise ValueError("not a cursor this API wrote")
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(INVALID, fields=[{"field": "cursor", "detail": "invalid cursor"}]) from None
    if position.sort != sort:
        raise ValidationFailed(OTHER_SORT, fields=[{"field": "cursor", "detail": "sort changed"}])
    return position
