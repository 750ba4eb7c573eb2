"""Due dates per regulation (contract section 4), counted on the calendar of TIMEZONE.

Months and days are calendar months and days where the service operates (``zone``, the TIMEZONE setting):
received on 31 January 00:30 in Berlin (30 January 23:30 UTC), a GDPR request is due on 28 February 00:30
in Berlin, not a day later because the arithmetic ran on the UTC date. A day is the same wall-clock time on
the next date, also across a daylight saving change. Pure functions: the zone is passed in, and every
result is an aware UTC datetime.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, tzinfo

REGULATIONS = ("gdpr", "ccpa", "lgpd")


def _earliest_instant(wall: datetime) -> datetime:
    """The UTC instant of the wall-clock time ``wall``; of the two a daylight saving change may give (a time
    that occurs twice, or one the clocks skip), the earlier, so that a deadline is never later than due."""
    return min(wall.replace(fold=0).astimezone(UTC), wall.replace(fold=1).astimezone(UTC))


def _local(at: datetime, zone: tzinfo) -> datetime:
    if at.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return at.astimezone(zone)


def add_months(at: datetime, months: int, *, zone: tzinfo) -> datetime:
    """The same time ``months`` calendar months later in ``zone``, clamped to the month's last day
    (31 Jan + 1 = 28/29 Feb)."""
    local = _local(at, zone)
    month_index = local.month - 1 + months
    year = local.year + month_index // 12
    month = month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return _earliest_instant(local.replace(year=year, month=month, day=day))


def add_duration(at: datetime, duration: timedelta, *, zone: tzinfo) -> datetime:
    """``at`` plus ``duration``: its whole days as calendar days in ``zone`` (the same wall-clock time), the
    rest (hours, minutes) as elapsed time."""
    days = timedelta(days=duration.days)
    rest = duration - days
    local = _local(at, zone)
    # Same tzinfo: Python adds wall-clock time; the instant is resolved afterwards.
    return _earliest_instant(local + days) + rest


def due_at_for(
    regulation: str, received_at: datetime, *, request_deadline: timedelta, zone: tzinfo
) -> datetime:
    """When a request received at ``received_at`` must be answered.

    GDPR: the earlier of ``received_at + REQUEST_DEADLINE`` and one calendar month later. CCPA: 45 days.
    LGPD: 15 days. Counted in ``zone``.
    """
    if regulation == "gdpr":
        return min(
            add_duration(received_at, request_deadline, zone=zone), add_months(received_at, 1, zone=zone)
        )
    if regulation == "ccpa":
        return add_duration(received_at, timedelta(days=45), zone=zone)
    if regulation == "lgpd":
        return add_duration(received_at, timedelta(days=15), zone=zone)
    raise ValueError(f"unknown regulation {regulation!r}")


def extended_due_at(regulation: str, due_at: datetime, *, zone: tzinfo) -> datetime | None:
    """The due date after the one allowed extension, or None where the regulation allows none (LGPD)."""
    if regulation == "gdpr":
        return add_months(due_at, 2, zone=zone)
    if regulation == "ccpa":
        return add_duration(due_at, timedelta(days=45), zone=zone)
    return None


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until ``due_at``, rounded down; negative once overdue."""
    return (due_at - now) // timedelta(days=1)
