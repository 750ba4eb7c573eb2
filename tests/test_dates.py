"""Dates and times as a customer reads them (contract section 8): the calendar day and the minute in TIMEZONE,
in the customer's language, with the zone's own abbreviation for that instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core.i18n import format_date, format_datetime


def test_the_hour_repeated_in_autumn_is_told_apart_by_its_zone() -> None:
    # 25 October 2026: Berlin's clocks go back from 03:00 CEST to 02:00 CET, so 02:30 happens twice.
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = first + timedelta(hours=1)
    assert format_datetime(first, "en", "Europe/Berlin") == "25 October 2026, 02:30 CEST"
    assert format_datetime(second, "en", "Europe/Berlin") == "25 October 2026, 02:30 CET"
    assert format_datetime(first, "de", ZoneInfo("Europe/Berlin")) == "25. Oktober 2026, 02:30 MESZ"
    assert format_datetime(second, "de", ZoneInfo("Europe/Berlin")) == "25. Oktober 2026, 02:30 MEZ"


def test_one_instant_reads_as_each_zone_and_language_writes_it() -> None:
    instant = datetime(2026, 12, 31, 23, 5, 59, 999_999, tzinfo=UTC)
    assert format_datetime(instant, "en") == "31 December 2026, 23:05 UTC"
    assert format_datetime(instant, "de", "Europe/Berlin") == "1. Januar 2027, 00:05 MEZ"
    assert (
        format_datetime(instant, "en", "America/New_York") == "31 December 2026, 18:05 Eastern Standard Time"
    )
    assert format_date(instant, "en") == "31 December 2026"
    assert format_date(instant, "de", "Europe/Berlin") == "1. Januar 2027"
    assert format_date(instant, "de-AT", "Pacific/Auckland") == "1. Januar 2027"
    # A time as SQLite gives it back (naive, UTC), and a calendar date as it is.
    assert format_datetime(instant.replace(tzinfo=None), "en", "Europe/Berlin") == "1 January 2027, 00:05 CET"
    assert format_date(date(2027, 1, 4), "fr") == "4 January 2027"
