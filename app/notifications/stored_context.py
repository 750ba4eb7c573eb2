"""An email's context as stored with it while it waits: JSON, with times tagged so they come back as times.

An outbox email is rendered when the worker sends it, from the context its change gave it then (what was true
when the change was made); the request that wrote it does not pay for the rendering. The context is sealed at
rest like the bodies were (it may hold a working link).

Only what a template context holds is stored: text, numbers, booleans, None, lists, mappings with text keys,
and datetimes, dates and timedeltas. Anything else raises ``TypeError`` when the email is queued, so a change
that hands a template an object it cannot store fails its tests instead of an email later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson

# One-key objects standing for a value JSON has no type for. A context's own mappings never use such keys.
_DATETIME, _DATE, _SECONDS = "$datetime", "$date", "$timedelta_seconds"
# Times to _tagged; dataclasses too, which orjson would otherwise store as plain mappings that come back so.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _tagged(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    if isinstance(value, timedelta):
        return {_SECONDS: value.total_seconds()}
    raise TypeError(f"an email's context cannot hold {type(value).__name__}")


def dumps(context: Mapping[str, Any]) -> str:
    """The context as JSON text. Raises ``TypeError`` for a value it cannot store."""
    try:
        return orjson.dumps(dict(context), default=_tagged, option=_OPTIONS).decode()
    except orjson.JSONEncodeError as error:
        raise TypeError(f"an email's context cannot be stored: {error}") from None


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
