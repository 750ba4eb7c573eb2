"""Small helpers the email context is built with. Dates, numbers and words in a language come from Babel and the
message catalogs (``app.core.i18n``); nothing here keeps its own month or word tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from app.core.clock import as_utc
from app.core.i18n import normalize_locale
from app.deadlines import due_dates

__all__ = ["days_left", "describe_entities", "normalize_locale"]


def days_left(due_at: datetime, now: datetime) -> int:
    """The contract's ``days_left``, tolerating the naive UTC datetimes SQLite hands back."""
    return due_dates.days_left(as_utc(due_at), as_utc(now))


def describe_entities(entities: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """``sources.describe()`` lines with every key the templates read present (missing ones as ``None``); an
    entity without a title is named by its entity name (or its source's, for a source without entities),
    never by its table."""
    defaults: dict[str, Any] = {
        "source": "",
        "entity": None,
        "title": None,
        "erase": "delete",
        "purpose": None,
        "retention": None,
        "retention_basis": None,
        "pseudonymised": False,
    }
    described = []
    for entity in entities or ():
        line = {**defaults, **entity}
        line["title"] = line["title"] or line["entity"] or line["source"]
        described.append(line)
    return described
