"""The list screen's filters: read from the page's address, turned into the list's filters and into the query
string of the public API (the CSV export link and the bulk actions call the API with exactly these filters).

Dates in the filter form are calendar days in ``TIMEZONE``: "received from 1 March" starts at midnight there,
"received to 31 March" and "due by 31 March" include that whole day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from app.models import OPEN_STATUSES
from app.requests.repository import ListFilters

STATUSES: tuple[str, ...] = (
    "unverified",
    "pending",
    "in_progress",
    "processed",
    "failed",
    "deleted",
    "expired",
)
TYPES: tuple[str, ...] = ("access", "deletion")
SORTS: tuple[str, ...] = ("-received_at", "received_at", "due_at", "-due_at")
PAGE_SIZE = 25
# How many earlier pages "Previous" can go back through (each a cursor in the address).
TRAIL_LIMIT = 30
# Stands for the first page (no cursor) in the trail of earlier pages.
FIRST_PAGE = "~"
_CURSOR_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass
class ListView:
    """What the operator asked the list for, as the form shows it, plus what it means for the API."""

    statuses: list[str] = field(default_factory=list)
    type: str = ""
    overdue: str = ""
    due_by: str = ""
    received_from: str = ""
    received_to: str = ""
    q: str = ""
    sort: str = "-received_at"
    cursor: str | None = None
    trail: list[str] = field(default_factory=list)
    # Field name -> the problem, for values that could not be used (they are left out of the filter).
    problems: dict[str, str] = field(default_factory=dict)
    api: list[tuple[str, str]] = field(default_factory=list)
    filters: ListFilters = field(default_factory=ListFilters)

    @property
    def filtered(self) -> bool:
        """True when any filter narrows the list (the bulk actions need one)."""
        return bool(self.api)

    @property
    def bulk_ready(self) -> bool:
        """Whether the bulk actions are offered: only for a narrowed list that is exactly what the address
        asked for (a value left out would widen the selection they act on, up to every request)."""
        return self.filtered and not self.problems

    def api_query(self) -> str:
        """The filters as the public API's query string (no sort, no cursor)."""
        return urlencode(self.api)

    def page_query(self, **changes: str | None) -> str:
        """This view's own address query with ``changes`` (``None`` removes a key)."""
        values: dict[str, str | list[str] | None] = {
            "status": self.statuses,
            "type": self.type,
            "overdue": self.overdue,
            "due_by": self.due_by,
            "received_from": self.received_from,
            "received_to": self.received_to,
            "q": self.q,
            "sort": self.sort if self.sort != SORTS[0] else None,
        }
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for key, value in values.items():
            if isinstance(value, list):
                pairs.extend((key, item) for item in value)
            elif value:
                pairs.append((key, value))
        return urlencode(pairs)

    def next_query(self, next_cursor: str) -> str:
        trail = [*self.trail, self.cursor or FIRST_PAGE][-TRAIL_LIMIT:]
        return self.page_query(cursor=next_cursor, trail=".".join(trail))

    def previous_query(self) -> str | None:
        """The address of the page before this one, or None on the first page."""
        if self.cursor is None:
            return None
        *earlier, previous = self.trail or [FIRST_PAGE]
        cursor = None if previous == FIRST_PAGE else previous
        return self.page_query(cursor=cursor, trail=".".join(earlier) if cursor and earlier else None)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _cursor(value: str | None) -> str | None:
    if value and len(value) <= 500 and set(value) <= _CURSOR_CHARS:
        return value
    return None


def read_list_view(params: QueryParams, *, timezone: str) -> ListView:
    """The list view the address asks for. Unusable values are named in ``problems`` and ignored."""
    zone = ZoneInfo(timezone)
    view = ListView()
    api: list[tuple[str, str]] = []
    sort = params.get("sort", "")
    view.sort = sort if sort in SORTS else SORTS[0]
    if sort and sort not in SORTS:
        view.problems["sort"] = "sort"
    asked = [s for s in dict.fromkeys(params.getlist("status")) if s]
    statuses = [s for s in asked if s in STATUSES]
    if len(statuses) < len(asked):
        view.problems["status"] = "status"
    if not statuses and view.sort == "due_at":
        # "Soonest due first" is a work queue: the open requests, so the overdue ones come first (a request
        # closed long ago has the earliest due date of all, but nothing left to do).
        statuses = list(OPEN_STATUSES)
    view.statuses = statuses
    api.extend(("status", s) for s in statuses)
    kind = params.get("type", "")
    if kind in TYPES:
        view.type = kind
        api.append(("type", kind))
    elif kind:
        view.problems["type"] = "type"
    overdue = params.get("overdue", "")
    if overdue in ("true", "false"):
        view.overdue = overdue
        api.append(("overdue", overdue))
    elif overdue:
        view.problems["overdue"] = "overdue"
    bounds: dict[str, datetime] = {}
    for name, api_name, next_day in (
        ("received_from", "received_after", False),
        ("received_to", "received_before", True),
        ("due_by", "due_before", True),
    ):
        text = params.get(name, "").strip()
        if not text:
            continue
        setattr(view, name, text[:10])
        day = _day(text)
        if day is None or not date(1900, 1, 1) <= day <= date(9998, 12, 31):
            view.problems[name] = "date"
            continue
        bound = _midnight(day + timedelta(days=1) if next_day else day, zone)
        bounds[api_name] = bound
        api.append((api_name, _rfc3339(bound)))
    query = params.get("q", "").strip()[:320]
    if query:
        view.q = query
        api.append(("q", query))
    view.cursor = _cursor(params.get("cursor"))
    trail = params.get("trail")
    if view.cursor is not None and trail:
        view.trail = [c if _cursor(c) else FIRST_PAGE for c in trail.split(".")][-TRAIL_LIMIT:]
    view.api = api
    view.filters = ListFilters(
        statuses=tuple(statuses),
        type=view.type or None,
        search=view.q or None,
        overdue=None if not view.overdue else view.overdue == "true",
        due_before=bounds.get("due_before"),
        received_after=bounds.get("received_after"),
        received_before=bounds.get("received_before"),
    )
    return view
