"""Due dates per regulation (contract section 4)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

REGULATIONS = ("gdpr", "ccpa", "lgpd")


def add_months(at: datetime, months: int) -> datetime:
    """The same time ``months`` calendar months later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month_index = at.month - 1 + months
    year = at.year + month_index // 12
    month = month_index % 12 + 1
    day = min(at.day, calendar.monthrange(year, month)[1])
    return at.replace(year=year, month=month, day=day)


def due_at_for(regulation: str, received_at: datetime, *, request_deadline: timedelta) -> datetime:
    """When a request received at ``received_at`` must be answered.

    GDPR: the earlier of ``received_at + REQUEST_DEADLINE`` and one calendar month later. CCPA: 45 days.
    LGPD: 15 days.
    """
    if regulation == "gdpr":
        return min(received_at + request_deadline, add_months(received_at, 1))
    if regulation == "ccpa":
        return received_at + timedelta(days=45)
    if regulation == "lgpd":
        return received_at + timedelta(days=15)
    raise ValueError(f"unknown regulation {regulation!r}")


def extended_due_at(regulation: str, due_at: datetime) -> datetime | None:
    """The due date after the one allowed extension, or None where the regulation allows none (LGPD)."""
    if regulation == "gdpr":
        return add_months(due_at, 2)
    if regulation == "ccpa":
        return due_at + timedelta(days=45)
    return None


def days_left(due_at: datetime, now: datetime) -> int:
    """Whole days until ``due_at``, rounded down; negative once overdue."""
    return (due_at - now) // timedelta(days=1)
