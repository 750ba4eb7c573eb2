"""Translations for everything a customer reads (contract section 8): gettext message catalogs, read with Babel.

Each domain that renders text keeps its templates in ``app/<domain>/templates/`` and its catalogs in
``app/<domain>/locales/<lang>/LC_MESSAGES/messages.po``. Templates are written once, in English, with
``{% trans %}`` / ``_()``; a language is a catalog. English needs no catalog (the message ids are English).

Catalogs are read from the ``.po`` files at start (Babel compiles them in memory): no compiled ``.mo`` files
to keep in step, and a missing translation falls back to English rather than failing a send. The test suite
checks that every message has its German translation and that no English is left in German output.

Dates are shown in ``TIMEZONE`` (passed as ``timezone`` in the template context), as a person writes them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from app.core.clock import as_utc

LOCALES: tuple[str, ...] = ("en", "de")
DEFAULT_LOCALE = "en"
# Babel's locale for each language: British English writes "30 December 2026", not "December 30, 2026".
_BABEL_LOCALES = {"en": "en_GB", "de": "de_DE"}
CATALOG_DOMAIN = "messages"


def normalize_locale(locale: str | None) -> str:
    """``de``, ``de-DE`` and ``de_AT`` are German; anything unknown falls back to English."""
    language = (locale or "").replace("_", "-").split("-")[0].strip().lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def babel_locale(locale: str | None) -> Locale:
    return _babel_locale(normalize_locale(locale))


@lru_cache(maxsize=len(LOCALES))
def _babel_locale(lang: str) -> Locale:
    # Parsed once per language: every date and number an email or a package shows asks for it.
    return Locale.parse(_BABEL_LOCALES[lang])


def catalog_path(package: str, locale: str) -> Any:
    """The ``.po`` file of ``package`` (e.g. ``app.notifications``) for ``locale``, as an importlib resource."""
    return resources.files(package) / "locales" / locale / "LC_MESSAGES" / f"{CATALOG_DOMAIN}.po"


@lru_cache(maxsize=32)
def translations(package: str, locale: str) -> NullTranslations:
    """The gettext translations of ``package`` in ``locale``; English (and a language without a catalog) is
    the identity."""
    lang = normalize_locale(locale)
    path = catalog_path(package, lang)
    if lang == DEFAULT_LOCALE or not path.is_file():
        return NullTranslations()
    with path.open("rb") as file:
        catalog = read_po(file, locale=_BABEL_LOCALES[lang], domain=CATALOG_DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=CATALOG_DOMAIN)


def _newstyle(catalog: NullTranslations) -> tuple[Callable[..., str], Callable[..., str]]:
    """Jinja's newstyle ``gettext`` and ``ngettext`` (``jinja2.ext._make_new_gettext``) over ``catalog``."""
    translate, translate_plural = catalog.gettext, catalog.ngettext

    @pass_eval_context
    def gettext(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
        text = translate(string)
        return (Markup(text) if eval_ctx.autoescape else text) % variables

    @pass_eval_context
    def ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        text = translate_plural(singular, plural, num)
        return (Markup(text) if eval_ctx.autoescape else text) % variables

    return gettext, ngettext


def gettext_for(package: str, locale: str) -> Callable[[str], str]:
    """``_`` for Python code that builds customer-facing text outside a template."""
    return translations(package, locale).gettext


# -- dates and numbers as a person writes them, in TIMEZONE --------------------------------------------------


def local_time(value: datetime, timezone: str | ZoneInfo) -> datetime:
    """``value`` (aware, or naive UTC as SQLite returns it) in ``timezone``."""
    zone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
    return as_utc(value).astimezone(zone)


def format_date(value: datetime | date, locale: str, timezone: str | ZoneInfo = "UTC") -> str:
    """``30 December 2026`` / ``30. Dezember 2026``: the calendar date in ``timezone``."""
    day = local_time(value, timezone).date() if isinstance(value, datetime) else value
    lang = normalize_locale(locale)
    if not isinstance(day, date):  # not a date (babel reads None as today): written each time, never kept
        return babel_format_date(day, format="long", locale=_babel_locale(lang))
    return _long_date(day, lang)


def format_datetime(value: datetime, locale: str, timezone: str | ZoneInfo = "UTC") -> str:
    """``30 December 2026, 14:05 CET`` / ``30. Dezember 2026, 14:05 MEZ``: minutes, never seconds."""
    local = local_time(value, timezone)
    lang = normalize_locale(locale)
    # Kept per minute as an instant (UTC; a local time alone can be ambiguous: the hour repeated in autumn) when
    # the whole minute reads the same there: an offset of whole minutes (every zone's today; a historical one
    # such as Amsterdam's +0:19:32 is not) and no change of offset or zone name within the minute.
    minute = as_utc(value).replace(second=0, microsecond=0)
    start = local_time(minute, timezone)
    offset = local.utcoffset()
    if offset is None or offset % _MINUTE or start.utcoffset() != offset or start.tzname() != local.tzname():
        return _datetime_words(local, lang)
    return _minute_words(minute, timezone, lang)


_MINUTE = timedelta(minutes=1)


# Babel takes some 10 µs a date in a warm loop and several times that between requests (its locale data out of
# the CPU's caches), and the emails of a burst of requests name the same few days and minutes: each is written
# once per language (and zone), then looked up.
@lru_cache(maxsize=4096)
def _long_date(day: date, lang: str) -> str:
    return babel_format_date(day, format="long", locale=_babel_locale(lang))


@lru_cache(maxsize=4096)
def _minute_words(minute: datetime, timezone: str | ZoneInfo, lang: str) -> str:
    return _datetime_words(local_time(minute, timezone), lang)


def _datetime_words(local: datetime, lang: str) -> str:
    babel = _babel_locale(lang)
    day = _long_date(local.date(), lang)
    clock_time = babel_format_time(local, format="HH:mm", locale=babel)
    zone = babel_format_time(local, format="z", tzinfo=local.tzinfo, locale=babel)
    return f"{day}, {clock_time} {zone}"


def format_number(value: int | float, locale: str) -> str:
    """``1,234`` / ``1.234``."""
    return format_decimal(value, locale=babel_locale(locale))


def format_duration(value: timedelta, locale: str) -> str:
    """A span in words: ``7 days``, ``12 hours`` / ``7 Tage``, ``12 Stunden`` (nominative)."""
    from babel.dates import format_timedelta

    return format_timedelta(value, threshold=1, format="long", locale=babel_locale(locale))


# -- the Jinja environment ------------------------------------------------------------------------------------


def _locale_of(context: Context) -> str:
    return str(context.get("locale", DEFAULT_LOCALE))


def _zone_of(context: Context) -> str:
    return str(context.get("timezone") or "UTC")


@pass_context
def _date_filter(context: Context, value: Any) -> str:
    return format_date(value, _locale_of(context), _zone_of(context))


@pass_context
def _datetime_filter(context: Context, value: Any) -> str:
    return format_datetime(value, _locale_of(context), _zone_of(context))


@pass_context
def _number_filter(context: Context, value: Any) -> str:
    return format_number(value, _locale_of(context))


@pass_context
def _duration_filter(context: Context, value: Any) -> str:
    return format_duration(value, _locale_of(context))


@pass_context
def _localized_filter(context: Context, value: Any) -> Any:
    """A per-language text (``{"en": ..., "de": ...}``) in the context's language; a plain string as is."""
    if isinstance(value, dict):
        lang = normalize_locale(_locale_of(context))
        return value.get(lang) or value.get(DEFAULT_LOCALE) or next(iter(value.values()), None)
    return value


@lru_cache(maxsize=32)
def environment(package: str, locale: str, *, autoescape: Any) -> Environment:
    """The Jinja2 environment of ``package``'s templates in ``locale``: strict, trimmed, translated, with the
    filters ``date``, ``datetime``, ``number``, ``duration`` and ``localized``, which read ``locale`` and
    ``timezone`` from the render context."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=autoescape,
        # StrictUndefined: a typo in a template fails the test suite instead of showing a blank.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no need to stat them on every render.
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    catalog = translations(package, locale)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    # The extension's newstyle gettext, without its two indirections per message (``_()`` looks ``gettext`` up
    # and calls it through the context, which calls the catalog through the context again): a tenth of an
    # email's rendering. The same text: translated, marked safe where the template autoescapes, then always
    # formatted with the call's variables (which are escaped there).
    gettext, ngettext = _newstyle(catalog)
    env.globals.update(_=gettext, gettext=gettext, ngettext=ngettext)
    env.filters.update(
        date=_date_filter,
        datetime=_datetime_filter,
        number=_number_filter,
        duration=_duration_filter,
        localized=_localized_filter,
    )
    return env
