"""Due dates per regulation (contract section 4), counted on the calendar of TIMEZONE (section 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.deadlines.due_dates import add_months, days_left, due_at_for, extended_due_at

BERLIN = ZoneInfo("Europe/Berlin")
THIRTY_DAYS = timedelta(days=30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def berlin(text: str) -> datetime:
    """A wall-clock time in Berlin (an existing, unambiguous one), as the UTC instant it is."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-31T10:00:00", "2026-02-28T10:00:00"),  # one calendar month, clamped
        ("2028-01-31T10:00:00", "2028-02-29T10:00:00"),  # leap year
        ("2026-03-10T09:00:00", "2026-04-09T09:00:00"),  # 30 days is earlier than a month of 31 days
        (
            "2026-02-01T00:00:00",
            "2026-03-01T00:00:00",
        ),  # February: one month (28 days) is earlier than 30 days
        ("2026-12-15T08:30:00", "2027-01-14T08:30:00"),
    ],
)
def test_gdpr_is_the_earlier_of_30_days_and_one_calendar_month(received: str, due: str) -> None:
    assert due_at_for("gdpr", at(received), request_deadline=THIRTY_DAYS, zone=UTC) == at(due)


def test_request_deadline_setting_shortens_gdpr() -> None:
    assert due_at_for("gdpr", at("2026-01-01T00:00:00"), request_deadline=timedelta(days=20), zone=UTC) == at(
        "2026-01-21T00:00:00"
    )


def test_ccpa_and_lgpd() -> None:
    assert due_at_for("ccpa", at("2026-01-01T00:00:00"), request_deadline=THIRTY_DAYS, zone=UTC) == at(
        "2026-02-15T00:00:00"
    )
    assert due_at_for("lgpd", at("2026-01-01T00:00:00"), request_deadline=THIRTY_DAYS, zone=UTC) == at(
        "2026-01-16T00:00:00"
    )


def test_extensions() -> None:
    assert extended_due_at("gdpr", at("2026-02-28T10:00:00"), zone=UTC) == at("2026-04-28T10:00:00")
    assert extended_due_at("gdpr", at("2026-12-31T00:00:00"), zone=UTC) == at("2027-02-28T00:00:00")
    assert extended_due_at("ccpa", at("2026-02-15T00:00:00"), zone=UTC) == at("2026-04-01T00:00:00")
    assert extended_due_at("lgpd", at("2026-02-15T00:00:00"), zone=UTC) is None


def test_add_months_clamps() -> None:
    assert add_months(at("2026-08-31T00:00:00"), 1, zone=UTC) == at("2026-09-30T00:00:00")
    assert add_months(at("2026-11-30T00:00:00"), 3, zone=UTC) == at("2027-02-28T00:00:00")


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # 31 January 00:30 in Berlin is 30 January in UTC: the month is Berlin's, so 28 February 00:30 there,
        # not 28 February 23:30 UTC (1 March 00:30 in Berlin, past the local deadline).
        ("2026-01-31T00:30:00", "2026-02-28T00:30:00"),
        ("2028-01-31T00:30:00", "2028-02-29T00:30:00"),  # leap year, same on Berlin's calendar
        # 1 March 00:30 in Berlin is 28 February in UTC: 30 days from 1 March end on 31 March, across the
        # change to summer time (29 March), at the same wall-clock time.
        ("2026-03-01T00:30:00", "2026-03-31T00:30:00"),
        ("2026-03-10T12:00:00", "2026-04-09T12:00:00"),  # winter to summer time: 12:00 stays 12:00
        ("2026-10-10T12:00:00", "2026-11-09T12:00:00"),  # summer to winter time
        ("2026-12-31T23:30:00", "2027-01-30T23:30:00"),  # the year ends earlier in Berlin than in UTC
    ],
)
def test_gdpr_in_berlin_counts_berlin_calendar_months_and_days(received: str, due: str) -> None:
    assert due_at_for("gdpr", berlin(received), request_deadline=THIRTY_DAYS, zone=BERLIN) == berlin(due)


def test_the_berlin_example_of_the_contract_in_utc() -> None:
    received = at("2026-01-30T23:30:00")  # 31 January 00:30 in Berlin
    assert due_at_for("gdpr", received, request_deadline=THIRTY_DAYS, zone=BERLIN) == at(
        "2026-02-27T23:30:00"
    )
    assert due_at_for("gdpr", received, request_deadline=THIRTY_DAYS, zone=UTC) == at("2026-02-28T23:30:00")


def test_ccpa_lgpd_and_extensions_in_berlin() -> None:
    assert due_at_for(
        "ccpa", berlin("2026-03-01T00:30:00"), request_deadline=THIRTY_DAYS, zone=BERLIN
    ) == berlin("2026-04-15T00:30:00")
    assert due_at_for(
        "lgpd", berlin("2026-03-20T09:00:00"), request_deadline=THIRTY_DAYS, zone=BERLIN
    ) == berlin("2026-04-04T09:00:00")
    # Two calendar months from 28 February 00:30 in Berlin (27 February in UTC): 28 April, summer time.
    assert extended_due_at("gdpr", berlin("2026-02-28T00:30:00"), zone=BERLIN) == berlin(
        "2026-04-28T00:30:00"
    )
    assert extended_due_at("gdpr", berlin("2026-12-31T00:30:00"), zone=BERLIN) == berlin(
        "2027-02-28T00:30:00"
    )
    assert extended_due_at("ccpa", berlin("2026-03-01T00:30:00"), zone=BERLIN) == berlin(
        "2026-04-15T00:30:00"
    )


def test_a_wall_clock_time_the_clocks_skip_or_repeat_is_due_at_its_earlier_instant() -> None:
    # 29 March 2026 in Berlin: 02:00 becomes 03:00, so 02:30 never happens. 45 days after 12 February
    # 02:30 is due no later than the change (01:00 UTC): at 00:30 UTC.
    skipped = due_at_for("ccpa", berlin("2026-02-12T02:30:00"), request_deadline=THIRTY_DAYS, zone=BERLIN)
    assert skipped == at("2026-03-29T00:30:00")
    # 25 October 2026: 03:00 becomes 02:00 again, so 02:30 happens twice; the first one counts.
    repeated = due_at_for("ccpa", berlin("2026-09-10T02:30:00"), request_deadline=THIRTY_DAYS, zone=BERLIN)
    assert repeated == at("2026-10-25T00:30:00")


def test_hours_of_request_deadline_are_elapsed_time() -> None:
    # 2 days 12 hours from Saturday 28 March 18:00 in Berlin: 30 March 18:00 (calendar days across the
    # change), then 12 hours later: 31 March 06:00.
    deadline = timedelta(days=2, hours=12)
    due = due_at_for("gdpr", berlin("2026-03-28T18:00:00"), request_deadline=deadline, zone=BERLIN)
    assert due == berlin("2026-03-31T06:00:00")


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_at_for("gdpr", datetime(2026, 1, 1), request_deadline=THIRTY_DAYS, zone=BERLIN)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=23), 29),
        (timedelta(hours=1), 0),
        (timedelta(hours=-1), -1),
        (timedelta(days=-2, hours=1), -2),
    ],
)
def test_days_left_rounds_down(delta: timedelta, expected: int) -> None:
    now = at("2026-05-01T00:00:00")
    assert days_left(now + delta, now) == expected
