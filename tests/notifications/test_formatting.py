from datetime import UTC, datetime, timedelta

import pytest

from app.notifications.emails import calendar_days, duration_words
from app.notifications.formatting import days_left, describe_entities, normalize_locale


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("en", "en"), ("de", "de"), ("de-DE", "de"), ("de_AT", "de"), ("DE", "de"), ("fr", "en"), ("", "en")],
)
def test_unknown_locales_fall_back_to_english(locale: str, expected: str) -> None:
    assert normalize_locale(locale) == expected


def test_days_left_rounds_down_and_goes_negative() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert days_left(now + timedelta(days=6, hours=23), now) == 6
    assert days_left(now + timedelta(days=7), now) == 7
    assert days_left(now - timedelta(hours=1), now) == -1


def test_calendar_days_count_dates_where_the_service_operates() -> None:
    # Received 30 January 23:30 UTC = 31 January 00:30 in Berlin; due 28 February 00:30 in Berlin.
    received = datetime(2026, 1, 30, 23, 30, tzinfo=UTC)
    due = datetime(2026, 2, 27, 23, 30, tzinfo=UTC)
    assert calendar_days(received, due, "Europe/Berlin") == 28
    assert calendar_days(received, due, "UTC") == 28
    assert calendar_days(received, datetime(2026, 1, 31, 0, 30, tzinfo=UTC), "UTC") == 1
    assert calendar_days(received, datetime(2026, 1, 31, 0, 30, tzinfo=UTC), "Europe/Berlin") == 0


def test_entities_are_named_by_title_or_entity_never_by_table() -> None:
    described = describe_entities(
        [
            {"source": "crm", "entity": "orders", "title": {"en": "Orders", "de": "Bestellungen"}},
            {"source": "crm", "entity": "customers"},
        ]
    )
    assert [line["title"] for line in described] == [{"en": "Orders", "de": "Bestellungen"}, "customers"]
    assert all(line["pseudonymised"] is False and line["retention_basis"] is None for line in described)


def test_thresholds_keep_the_unit_they_were_configured_in() -> None:
    assert duration_words(timedelta(days=7), "en") == "7 days"
    assert duration_words(timedelta(days=1), "en") == "1 day"
    assert duration_words(timedelta(hours=12), "en") == "12 hours"
    assert duration_words(timedelta(days=7), "de") == "7 Tage"
    assert duration_words(timedelta(days=1), "de") == "1 Tag"
    assert duration_words(timedelta(minutes=90), "de") == "90 Minuten"
