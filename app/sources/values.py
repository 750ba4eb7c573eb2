"""Turning database values into JSON-safe ones, and the anonymisation functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any, Literal

from app.core.durations import to_iso8601

REDACTED = "[redacted]"
ColumnStrategy = Literal["null", "redact", "hash"]
_HASH = re.compile(r"^[0-9a-f]{64}$")
# The common types, checked by exact type first: this runs for every value of every exported row.
_PLAIN = frozenset({str, int, bool})
# What a whole column may hold to be passed through untouched (floats are checked for NaN and infinities).
_AS_IS = frozenset({str, int, bool, float, type(None)})
_INFINITIES = (float("inf"), float("-inf"))


def json_safe(value: Any) -> Any:
    """A JSON-serialisable form of a database value: ISO 8601 times, decimals as exact strings, bytes as base64."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; they are rare enough to carry as text.
        return value if value == value and value not in _INFINITIES else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return to_iso8601(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def json_record(row: dict[str, Any]) -> dict[str, Any]:
    """A record with every value JSON-safe."""
    return {str(key): json_safe(value) for key, value in row.items()}


class Records(list[dict[str, Any]]):
    """A batch of a SQL source's records (JSON-safe dicts), with the same values as rows: ``rows`` (tuples in
    ``names`` order, for the CSV files, which would otherwise take them apart again) and ``texts`` (the values of
    each column holding text, the only ones a CSV cell may have to defuse). No column holds a dict or a list.
    Read-only: a step that changed a record would leave its row and text stale."""

    __slots__ = ("names", "rows", "texts")

    def __init__(
        self,
        records: Iterable[dict[str, Any]],
        *,
        names: list[str],
        rows: Sequence[Sequence[Any]],
        texts: list[Sequence[Any]],
    ) -> None:
        super().__init__(records)
        self.names = names
        self.rows = rows
        self.texts = texts


def json_records(keys: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Records with every value JSON-safe from a batch of rows (tuples in ``keys`` order).

    Converted column by column: a column of plain values (text, numbers, booleans, NULL; the common case) is
    passed through without touching each value in Python; only columns holding other types go through
    :func:`json_safe`. A :class:`Records` unless a value converts to a dict or a list (JSON columns).
    """
    if not rows:
        return []
    names = [str(key) for key in keys]
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    converted = False
    texts: list[Sequence[Any]] = []
    nested = False
    for index, values in enumerate(columns):
        types = set(map(type, values))
        if not _plain_column(values, types):
            columns[index] = list(map(json_safe, values))
            converted = True
            types = set(map(type, columns[index]))
            nested = nested or not types.isdisjoint((dict, list))
        if any(issubclass(kind, str) for kind in types):  # a driver may hand out a subclass of str
            texts.append(columns[index])
    values_by_row: Sequence[Sequence[Any]] = list(zip(*columns, strict=True)) if converted else rows
    records = map(dict, map(zip, repeat(names), values_by_row))
    if nested:
        return list(records)
    return Records(records, names=names, rows=values_by_row, texts=texts)


def _plain_column(values: Sequence[Any], types: set[type]) -> bool:
    if not types <= _AS_IS:
        return False
    if float in types:
        return all(v == v and v not in _INFINITIES for v in values if type(v) is float)
    return True


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
