"""ISO 8601 durations (the subset the configuration uses: P[nY][nM][nW][nD][T[nH][nM][nS]])."""

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration such as ``P30D`` or ``PT20S``; raise ValueError otherwise.

    Years and months are refused: they have no fixed length, and the contract's calendar-month rules are
    applied by the deadline code, not by the configuration.
    """
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in {"P", "PT"} or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P30D or PT12H")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
    )


def to_iso8601(value: timedelta) -> str:
    """The ISO 8601 form of a duration, for messages and documentation."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{seconds}S" if seconds else "")
    )
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"


# A year in a retention period counts 366 days, so ``PnY`` is never shorter than n calendar years.
RETENTION_YEAR = timedelta(days=366)
# The longest 24 calendar months (CCPA keeps request records that long): two years with a leap day.
MIN_RECORDS_RETENTION = timedelta(days=731)
_YEARS = re.compile(r"^P(?P<years>\d+)Y(?P<rest>.*)$")


def parse_retention(value: object) -> object:
    """A retention period: an ISO 8601 duration that may also count years (``P3Y``, ``P1Y6W``)."""
    if not isinstance(value, str):
        return value
    text = value.strip().upper()
    match = _YEARS.match(text)
    if match is None:
        return parse_duration(text)
    rest = match.group("rest")
    years = RETENTION_YEAR * int(match.group("years"))
    return years + parse_duration("P" + rest) if rest else years


def at_least_records_retention(value: timedelta) -> timedelta:
    if value < MIN_RECORDS_RETENTION:
        raise ValueError("must be at least P2Y (request records are kept 24 months under the CCPA)")
    return value
