"""Dates, durations and words for emails and pages, in English and German, without Babel.

The service speaks two languages; a small table here is easier to review than a locale database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from app.core.clock import as_utc
from app.deadlines import due_dates

LOCALES = ("en", "de")
DEFAULT_LOCALE = "en"

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}

_REQUEST_TYPES = {
    "en": {"access": "access request", "deletion": "deletion request"},
    "de": {"access": "Auskunftsersuchen", "deletion": "Löschantrag"},
}

_REGULATIONS = {
    "en": {"gdpr": "GDPR", "ccpa": "CCPA", "lgpd": "LGPD"},
    "de": {"gdpr": "DSGVO", "ccpa": "CCPA", "lgpd": "LGPD"},
}


def normalize_locale(locale: str | None) -> str:
    """``de``, ``de-DE`` and ``de_AT`` are German; anything unknown falls back to English."""
    language = (locale or "").replace("_", "-").split("-")[0].strip().lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def format_date(value: datetime, locale: str) -> str:
    """The calendar date in words, in UTC: ``30 December 2026`` / ``30. Dezember 2026``."""
    utc = as_utc(value)
    lang = normalize_locale(locale)
    month = _MONTHS[lang][utc.month - 1]
    if lang == "de":
        return f"{utc.day}. {month} {utc.year}"
    return f"{utc.day} {month} {utc.year}"


def format_datetime(value: datetime, locale: str) -> str:
    """Date and time in UTC: ``30 December 2026, 14:05 UTC`` / ``30. Dezember 2026, 14:05 Uhr (UTC)``."""
    utc = as_utc(value)
    lang = normalize_locale(locale)
    clock_time = f"{utc.hour:02d}:{utc.minute:02d}"
    if lang == "de":
        return f"{format_date(utc, lang)}, {clock_time} Uhr (UTC)"
    return f"{format_date(utc, lang)}, {clock_time} UTC"


def duration_in_words(value: timedelta, locale: str) -> str:
    """A warning threshold in words: ``7 days``, ``12 hours``; German in the dative (``innerhalb von 7 Tagen``)."""
    lang = normalize_locale(locale)
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        count, unit = seconds // 86400, "day"
    elif seconds % 3600 == 0:
        count, unit = seconds // 3600, "hour"
    else:
        count, unit = max(seconds // 60, 1), "minute"
    if lang == "de":
        singular = {"day": "Tag", "hour": "Stunde", "minute": "Minute"}[unit]
        plural = {"day": "Tagen", "hour": "Stunden", "minute": "Minuten"}[unit]
    else:
        singular, plural = unit, unit + "s"
    return f"{count} {singular if count == 1 else plural}"


def days_left(due_at: datetime, now: datetime) -> int:
    """The contract's ``days_left``, tolerating the naive UTC datetimes SQLite hands back."""
    return due_dates.days_left(as_utc(due_at), as_utc(now))


def request_type_name(request_type: str, locale: str) -> str:
    """``access`` -> ``access request`` / ``Auskunftsersuchen``; unknown types pass through."""
    return _REQUEST_TYPES[normalize_locale(locale)].get(request_type, request_type)


def regulation_name(regulation: str, locale: str) -> str:
    """``gdpr`` -> ``GDPR`` / ``DSGVO``."""
    return _REGULATIONS[normalize_locale(locale)].get(regulation, regulation.upper())


def _locale_of(context: Context) -> str:
    return str(context.get("locale", DEFAULT_LOCALE))


@pass_context
def _date(context: Context, value: Any) -> str:
    return format_date(value, _locale_of(context))


@pass_context
def _datetime(context: Context, value: Any) -> str:
    return format_datetime(value, _locale_of(context))


@pass_context
def _duration(context: Context, value: Any) -> str:
    return duration_in_words(value, _locale_of(context))


@pass_context
def _request_type(context: Context, value: Any) -> str:
    return request_type_name(str(value), _locale_of(context))


@pass_context
def _regulation(context: Context, value: Any) -> str:
    return regulation_name(str(value), _locale_of(context))


def install_filters(env: Environment) -> None:
    """Register the locale-aware filters (``date``, ``datetime``, ``duration``, ``request_type``, ``regulation``).

    They read ``locale`` from the template context, so a template never passes the language around.
    """
    env.filters.update(
        date=_date,
        datetime=_datetime,
        duration=_duration,
        request_type=_request_type,
        regulation=_regulation,
    )


def describe_entities(entities: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """``sources.describe()`` lines with every key the templates read present (missing ones as ``None``)."""
    defaults = {"source": "", "entity": None, "erase": "delete", "purpose": None, "retention": None}
    return [{**defaults, **entity} for entity in entities or ()]


def template_environment(package: str, *, autoescape: Any) -> Environment:
    """The Jinja2 environment shared by emails and pages: strict, trimmed, with our filters."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=autoescape,
        # StrictUndefined: a typo in a template fails the test suite instead of showing a blank.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no need to stat them on every render.
        auto_reload=False,
    )
    install_filters(env)
    return env
