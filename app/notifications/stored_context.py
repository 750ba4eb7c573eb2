"""An email's context as stored with it while it waits: JSON, with times tagged so they come back as times.

An outbox email is rendered when the worker sends it, from the context its change gave it then (what was true
when the change was made); the request that wrote it renders only the subject. The context is sealed at rest
like the bodies were (it may hold a working link).

Only what a template reads back the same is stored: text, whole numbers, finite floats, booleans, None, lists
(a tuple comes back as a list), mappings with text keys (not starting with ``$``: those tag the values below),
datetimes, dates and timedeltas, and text enums (as their text). Anything else (a UUID, another enum, markup
already escaped, NaN...) raises
``TypeError`` when the email is queued, so a change that hands a template such a value fails its tests instead
of an email rendering differently later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

# One-key objects standing for a value JSON has no type for.
_DATETIME, _DATE, _SECONDS = "$datetime", "$date", "$timedelta_seconds"
_PLAIN = (str, int, bool, type(None))


def _tagged(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # exact types: a subclass (an enum, Markup) would come back as its base
        return value
    if isinstance(value, StrEnum):  # its text, which a template shows and compares the same
        return value.value
    if kind is float:
        if not math.isfinite(value):
            raise TypeError(f"an email's context cannot hold {value!r}")
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str or key.startswith("$"):
                raise TypeError(f"an email's context cannot hold the key {key!r}")
            out[key] = _tagged(item)
        return out
    if kind is list or kind is tuple:
        return [_tagged(item) for item in value]
    if kind is datetime:
        return {_DATETIME: value.isoformat()}
    if kind is date:
        return {_DATE: value.isoformat()}
    if kind is timedelta:
        return {_SECONDS: value.total_seconds()}
    raise TypeError(f"an email's context cannot hold {kind.__name__}")


def dumps(context: Mapping[str, Any]) -> str:
    """The context as JSON text. Raises ``TypeError`` for a value it cannot store."""
    return json.dumps(_tagged(dict(context)), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _untagged(item: dict[str, Any]) -> Any:
    if len(item) == 1:
        if _DATETIME in item:
            return datetime.fromisoformat(item[_DATETIME])
        if _DATE in item:
            return date.fromisoformat(item[_DATE])
        if _SECONDS in item:
            return timedelta(seconds=item[_SECONDS])
    return item


def loads(text: str) -> dict[str, Any]:
    """The context :func:`dumps` stored, times as times."""
    context = json.loads(text, object_hook=_untagged)
    if not isinstance(context, dict):
        raise ValueError("a stored email context is not a mapping")
    return context
