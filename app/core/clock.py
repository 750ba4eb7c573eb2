"""The one clock of the service. Tests set it; everything else reads it."""

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None
_offset = timedelta()


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def freeze(at: datetime | None) -> None:
    """Stop the clock at ``at`` (tests); ``None`` lets it run again."""
    global _frozen
    _frozen = at.astimezone(UTC) if at is not None else None


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests): a frozen clock moves, a running one gains an offset."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def reset() -> None:
    global _frozen, _offset
    _frozen = None
    _offset = timedelta()


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; they are UTC by construction."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
