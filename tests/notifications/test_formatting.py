from datetime import UTC, datetime, timedelta

import pytest

from app.notifications.formatting import (
    days_left,
    duration_in_words,
    format_date,
    format_datetime,
    normalize_locale,
    regulation_name,
    request_type_name,
)

DATE = datetime(2026, 12, 30, 23, 59, tzinfo=UTC)


def test_dates_in_words() -> None:
    assert format_date(DATE, "en") == "30 December 2026"
    assert format_date(DATE, "de") == "30. Dezember 2026"
    assert format_date(datetime(2026, 3, 1, tzinfo=UTC), "de") == "1. März 2026"


def test_dates_are_shown_in_utc() -> None:
    from zoneinfo import ZoneInfo

    berlin_new_year = datetime(2027, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_date(berlin_new_year, "en") == "31 December 2026"
    assert format_datetime(berlin_new_year, "en") == "31 December 2026, 23:30 UTC"
    assert format_datetime(berlin_new_year, "de") == "31. Dezember 2026, 23:30 Uhr (UTC)"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "en"), ("de", "de"), ("de-DE", "de"), ("de_AT", "de"), ("DE", "de"), ("fr", "en"), ("", "en")],
)
def test_unknown_locales_fall_back_to_english(locale: str, expected: str) -> None:
    assert normalize_locale(locale) == expected


def test_durations_in_words() -> None:
    assert duration_in_words(timedelta(days=7), "en") == "7 days"
    assert duration_in_words(timedelta(days=1), "en") == "1 day"
    assert duration_in_words(timedelta(hours=12), "en") == "12 hours"
    assert duration_in_words(timedelta(days=7), "de") == "7 Tagen"
    assert duration_in_words(timedelta(days=1), "de") == "1 Tag"
    assert duration_in_words(timedelta(hours=12), "de") == "12 Stunden"


def test_days_left_rounds_down_and_goes_negative() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert days_left(now + timedelta(days=6, hours=23), now) == 6
    assert days_left(now + timedelta(days=7), now) == 7
    assert days_left(now - timedelta(hours=1), now) == -1


def test_words_for_types_and_regulations() -> None:
    assert request_type_name("deletion", "de") == "Löschantrag"
    assert request_type_name("access", "en") == "access request"
    assert regulation_name("gdpr", "de") == "DSGVO"
    assert regulation_name("ccpa", "en") == "CCPA"
