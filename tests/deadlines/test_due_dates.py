"""Due dates per regulation (contract section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.deadlines.due_dates import add_months, days_left, due_at_for, extended_due_at


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
    assert due_at_for("gdpr", at(received), request_deadline=timedelta(days=30)) == at(due)


def test_request_deadline_setting_shortens_gdpr() -> None:
    assert due_at_for("gdpr", at("2026-01-01T00:00:00"), request_deadline=timedelta(days=20)) == at(
        "2026-01-21T00:00:00"
    )


def test_ccpa_and_lgpd() -> None:
    assert due_at_for("ccpa", at("2026-01-01T00:00:00"), request_deadline=timedelta(days=30)) == at(
        "2026-02-15T00:00:00"
    )
    assert due_at_for("lgpd", at("2026-01-01T00:00:00"), request_deadline=timedelta(days=30)) == at(
        "2026-01-16T00:00:00"
    )


def test_extensions() -> None:
    assert extended_due_at("gdpr", at("2026-02-28T10:00:00")) == at("2026-04-28T10:00:00")
    assert extended_due_at("gdpr", at("2026-12-31T00:00:00")) == at("2027-02-28T00:00:00")
    assert extended_due_at("ccpa", at("2026-02-15T00:00:00")) == at("2026-04-01T00:00:00")
    assert extended_due_at("lgpd", at("2026-02-15T00:00:00")) is None


def test_add_months_clamps() -> None:
    assert add_months(at("2026-08-31T00:00:00"), 1) == at("2026-09-30T00:00:00")
    assert add_months(at("2026-11-30T00:00:00"), 3) == at("2027-02-28T00:00:00")


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
