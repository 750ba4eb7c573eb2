"""``report.html``: the package's readable page (GDPR Art. 15): the data, why it is held, and the rights.

Rendered from ``templates/report.html`` in the request's language (a language is a catalog in
``locales/<lang>/LC_MESSAGES/messages.po``), with the brand at the top and dates in ``TIMEZONE``. Jinja's
``generate()`` hands the page out in pieces as the sections are produced; every value is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from markupsafe import Markup

from app.core import clock, i18n
from app.core.brand import Brand

if TYPE_CHECKING:
    from app.core.config import Settings

# Records per entity shown on the page; all of them are in data.json and the CSVs.
REPORT_ROWS = 200


class Contents(Protocol):
    """What the page shows of each (source, entity), in order: its columns, its record count and its first
    records (the CSV spool keeps them)."""

    order: list[tuple[str, str]]
    columns: dict[tuple[str, str], dict[str, None]]
    counts: dict[tuple[str, str], int]
    samples: dict[tuple[str, str], list[dict[str, Any]]]


@dataclass(frozen=True)
class Reader:
    """Who reads the report: the request's language, ``TIMEZONE`` and the brand (contract section 8)."""

    locale: str = "en"
    timezone: str = "UTC"
    brand: Brand = field(default_factory=Brand)

    @classmethod
    def of(cls, settings: Settings, locale: str) -> Reader:
        """The reader of a request in ``locale``, with the configured brand and ``TIMEZONE``."""
        return cls(locale=locale, timezone=settings.timezone, brand=settings.brand)


_ABOUT_DEFAULTS: dict[str, Any] = {
    "purpose": None,
    "categories": [],
    "recipients": [],
    "retention": None,
    "retention_basis": None,
    "source_of_data": None,
    "automated_decisions": None,
    "transfers": None,
    "erase": None,
    "pseudonymised": False,
}


def _cell(value: Any) -> str:
    """A record's value as its CSV cell shows it: nothing for null, JSON for nested values."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 string (data.json's request fields) or a datetime, for the ``datetime`` filter."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _sections(contents: Contents, describe: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each entity that holds records, in the package's order, with what the brand says about it; an entity
    with no records is not listed (contract section 8)."""
    meta = {(d.get("source"), d.get("entity")): d for d in describe}
    for source, entity in contents.order:
        count = contents.counts[(source, entity)]
        if not count:
            continue
        own = meta.get((source, entity))
        # An HTTP source that declares no entities describes itself once for whatever it returns.
        about = {**_ABOUT_DEFAULTS, **(own or meta.get((source, None)) or {})}
        columns = list(contents.columns[(source, entity)])
        shown = contents.samples[(source, entity)]
        yield {
            # The entity's title, else its name: never the table's.
            "title": (own or {}).get("title") or entity,
            "file": f"{source}/{entity}.csv",
            "count": count,
            "columns": columns,
            "rows": ([_cell(record.get(column)) for column in columns] for record in shown),
            "more": count - len(shown),
            "about": about,
        }


def report_html(
    contents: Contents,
    describe: list[dict[str, Any]],
    *,
    request: dict[str, Any],
    customer: dict[str, Any] | None,
    reader: Reader | None = None,
) -> Iterator[str]:
    """The page in pieces, for ``reader`` (English, UTC and no brand when not given).

    A page with hundreds of thousands of rows helps nobody read it: each entity shows its first records
    (``contents.samples``, at most :data:`REPORT_ROWS`) and says how many more are in its CSV file and in
    ``data.json``."""
    reader = reader or Reader()
    lang = i18n.normalize_locale(reader.locale)
    template = i18n.environment("app.packages", lang, autoescape=True).get_template("report.html")
    return template.generate(
        parts=_brand_parts(lang, reader.brand),
        locale=lang,
        timezone=reader.timezone,
        brand=reader.brand.as_context(),
        request={
            "id": request.get("id"),
            "type": request.get("type"),
            "regulation": request.get("regulation"),
            "received_at": _moment(request.get("received_at")),
            "due_at": _moment(request.get("due_at")),
        },
        customer=customer,
        generated_at=clock.now(),
        sections=_sections(contents, describe),
    )


@lru_cache(maxsize=64)
def _brand_parts(lang: str, brand: Brand) -> dict[str, Markup]:
    """The page's parts that depend only on the language and the brand (``templates/report_brand.html``): its
    head and introduction, who is responsible and the reader's rights. About forty translated, escaped pieces,
    the same on every page a process writes for this brand in this language: put together once (they were half
    of the page's rendering for a package of a few records)."""
    template = i18n.environment("app.packages", lang, autoescape=True).get_template("report_brand.html")
    module = template.make_module({"locale": lang, "brand": brand.as_context()})
    return {name: Markup(getattr(module, name)()) for name in ("head", "about_us")}
