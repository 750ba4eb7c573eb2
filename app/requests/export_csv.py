"""The filtered list as CSV (``GET /v1/privacy-requests/export.csv``): streamed page by page in the list's keyset
order. The first page is read in the request's unit of work (so a failure is a proper error answer), each later
one in its own short transaction: memory stays constant and no snapshot is held while a slow client downloads."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.context import ServiceContext
from app.deadlines.due_dates import days_left
from app.models import OPEN_STATUSES, PrivacyRequest
from app.packages.csv_cells import cell, needs_care
from app.packages.streaming import prefetched
from app.requests import repository, service
from app.requests.repository import Cursor, ListFilters

COLUMNS = (
    "id",
    "type",
    "status",
    "regulation",
    "email",
    "customer_id",
    "channel",
    "locale",
    "handling",
    "received_at",
    "due_at",
    "days_left",
    "overdue",
    "processed_at",
)
PAGE = 500


def _time(value: datetime | None) -> str:
    return clock.as_utc(value).isoformat().replace("+00:00", "Z") if value is not None else ""


# What the CSV reads of each request: its columns, then the cells computed from them.
_READ = (
    PrivacyRequest.id,
    PrivacyRequest.type,
    PrivacyRequest.status,
    PrivacyRequest.regulation,
    PrivacyRequest.email,
    PrivacyRequest.customer_id,
    PrivacyRequest.channel,
    PrivacyRequest.locale,
    PrivacyRequest.handling,
    PrivacyRequest.received_at,
    PrivacyRequest.due_at,
    PrivacyRequest.processed_at,
)


def _row(request: Any, now: datetime) -> list[Any]:
    overdue = request.status in OPEN_STATUSES and now > request.due_at
    values: list[Any] = [
        str(request.id),
        request.type,
        request.status,
        request.regulation,
        request.email or "",
        request.customer_id or "",
        request.channel or "",
        request.locale,
        request.handling or "",
        _time(request.received_at),
        _time(request.due_at),
        days_left(request.due_at, now),
        "true" if overdue else "false",
        _time(request.processed_at),
    ]
    # Text a person or an app typed (email, customer id, channel) could start with "=": defused.
    return [cell(value) for value in values] if needs_care(values) else values


async def _pages(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    filters: ListFilters,
    *,
    sort: str,
    now: datetime,
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    cursor: Cursor | None = None
    while True:
        if cursor is None:  # the first page in the request's unit of work, before the answer starts
            rows = await repository.list_values(
                session, filters, columns=_READ, sort=sort, limit=PAGE, cursor=None, now=now
            )
        else:
            async with sessionmaker() as reader:
                rows = await repository.list_values(
                    reader, filters, columns=_READ, sort=sort, limit=PAGE, cursor=cursor, now=now
                )
        page = rows[:PAGE]
        writer.writerows(_row(request, now) for request in page)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) <= PAGE:
            return
        cursor = repository.cursor_after(page[-1], sort=sort)


async def export_csv(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    ctx: ServiceContext,
    *,
    filters: ListFilters,
    sort: str,
) -> tuple[AsyncIterator[bytes], str]:
    """The CSV's chunks (the header and first page read now, so a failing database is a proper error answer)
    and its file name. ``days_left`` and ``overdue`` are as of the start of the download."""
    now = clock.now()
    chunks = await prefetched(
        _pages(session, sessionmaker, service.resolved(filters, ctx), sort=sort, now=now)
    )
    return chunks, f"privacy-requests-{now.strftime('%Y%m%d-%H%M%S')}.csv"
