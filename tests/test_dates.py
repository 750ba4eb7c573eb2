"""Dates and times as a customer reads them (contract section 8): the calendar day and the minute in TIMEZONE,
in the customer's language, with the zone's own abbreviation for that instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel import dates as babel_dates

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


def _as_babel_writes_it(value: datetime, locale: str, zone: str) -> str:
    """The instant's own local time, formatted by babel directly (no minute taken first)."""
    local = value.astimezone(ZoneInfo(zone))
    lang = "en_GB" if locale == "en" else "de_DE"
    day = babel_dates.format_date(local.date(), format="long", locale=lang)
    clock = babel_dates.format_time(local, format="HH:mm", locale=lang)
    name = babel_dates.format_time(local, format="z", tzinfo=local.tzinfo, locale=lang)
    return f"{day}, {clock} {name}"


@pytest.mark.parametrize(
    ("instant", "zone"),
    [
        # Offsets with seconds: Monrovia's -0:44:30 until 1972, Amsterdam's +0:19:32 (+1:19:32 in summer) until 1937.
        (datetime(1970, 6, 1, 12, 0, 40, tzinfo=UTC), "Africa/Monrovia"),
        (datetime(1970, 6, 2, 0, 44, 40, tzinfo=UTC), "Africa/Monrovia"),
        (datetime(1930, 6, 1, 12, 0, 40, tzinfo=UTC), "Europe/Amsterdam"),
        # The minutes around a change of offset, at its second and the seconds beside it.
        (datetime(1972, 1, 7, 0, 44, 29, tzinfo=UTC), "Africa/Monrovia"),
        (datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC), "Africa/Monrovia"),
        (datetime(1972, 1, 7, 0, 44, 31, tzinfo=UTC), "Africa/Monrovia"),
        (datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC), "Europe/Berlin"),
        (datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC), "Europe/Berlin"),
        (datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), "Europe/Berlin"),
        (datetime(2026, 10, 25, 1, 0, 1, tzinfo=UTC), "Europe/Berlin"),
        (datetime(2026, 12, 5, 23, 59, 59, 999_999, tzinfo=UTC), "Asia/Kathmandu"),
    ],
)
def test_every_instant_reads_as_its_own_local_time(instant: datetime, zone: str) -> None:
    for locale in ("en", "de"):
        # Twice: once written, once as kept.
        for _ in range(2):
            assert format_datetime(instant, locale, zone) == _as_babel_writes_it(instant, locale, zone)


def test_monrovia_in_1970_keeps_its_seconds_of_offset() -> None:
    # -0:44:30: 12:00:40 UTC was 11:16:10 there, not 11:15 (what the minute 12:00 UTC reads).
    assert format_datetime(datetime(1970, 6, 1, 12, 0, 40, tzinfo=UTC), "en", "Africa/Monrovia") == (
        "1 June 1970, 11:16 GMT"
    )
