"""All SQL about privacy requests."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    inspect,
    literal,
    not_,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.db import delete_oldest, read_only
from app.core.lifecycle import Status
from app.jobs import repository as jobs
from app.models import (
    CLOSED_AT,
    OPEN_STATUSES,
    Base,
    DeadlineAlert,
    Email,
    IdempotencyKey,
    Job,
    PrivacyRequest,
    RequestEvent,
    WebhookSubscription,
)
from app.models.privacy_request import OPEN_SQL, unredacted_sql


@dataclass(frozen=True)
class ListFilters:
    statuses: tuple[str, ...] = ()
    type: str | None = None
    email: str | None = None
    # The keyed hash of ``email``: finds requests whose address was masked after RECORDS_RETENTION.
    email_hash: str | None = None
    customer_id: str | None = None
    overdue: bool | None = None
    due_before: datetime | None = None
    received_after: datetime | None = None
    received_before: datetime | None = None
    # Search: an email prefix (lower case) or an exact customer id; ``search_hash`` also finds a whole address
    # that was masked after RECORDS_RETENTION.
    search: str | None = None
    search_hash: str | None = None


@dataclass(frozen=True)
class Cursor:
    sort: str
    key: datetime
    id: uuid.UUID


async def get(session: AsyncSession, request_id: uuid.UUID) -> PrivacyRequest | None:
    return await session.get(PrivacyRequest, request_id, populate_existing=True)


async def snapshot(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], request_id: uuid.UUID
) -> PrivacyRequest | None:
    """The request a job works on, as the worker read it with the other jobs of its round (``prefetch_requests``),
    else read now outside any transaction."""
    if (prefetched := jobs.prefetched(session, PrivacyRequest, request_id)) is not None:
        return prefetched
    async with read_only(sessionmaker) as reader:
        return await get(reader, request_id)


async def prefetch_requests(session: AsyncSession, claimed: list[Job]) -> dict[Any, Any]:
    """The requests of claimed jobs (``request_id`` in their payload), in one statement: {job id: request}. Read
    after the claim: each job still checks the request's status, and its writes check it again."""
    return await jobs.read_ahead(claimed, "request_id", functools.partial(get_many, session))


async def find_open(session: AsyncSession, *, subject: str, type: str) -> PrivacyRequest | None:
    query = select(PrivacyRequest).where(
        PrivacyRequest.subject == subject,
        PrivacyRequest.type == type,
        PrivacyRequest.status.in_(OPEN_STATUSES),
    )
    return (await session.scalars(query)).first()


async def find_by_verification_hash(session: AsyncSession, token_hash: str) -> PrivacyRequest | None:
    query = select(PrivacyRequest).where(PrivacyRequest.verification_token_hash == token_hash)
    return (await session.scalars(query)).first()


async def transition(
    session: AsyncSession, request_id: uuid.UUID, *, expected_status: str, values: dict[str, Any]
) -> PrivacyRequest | None:
    """Apply ``values`` only if the request is still in ``expected_status`` and return it as it now is (one
    round trip, ``UPDATE ... RETURNING``); None when a racer changed it first: of two racers exactly one wins."""
    result = await session.scalars(
        _transition(frozenset(values)),
        {
            "_request_id": request_id,
            "_expected_status": expected_status,
            **{f"_set_{column}": value for column, value in values.items()},
        },
    )
    return result.first()


@functools.cache
def _transition(columns: frozenset[str]) -> Any:
    """The statement of :func:`transition` setting ``columns``, built once per set of columns (a handful: each
    action sets its own): every request moves through it a few times, and building it cost more than running
    it."""
    return (
        update(PrivacyRequest)
        .where(
            PrivacyRequest.id == bindparam("_request_id"),
            PrivacyRequest.status == bindparam("_expected_status"),
        )
        .values({column: bindparam(f"_set_{column}") for column in sorted(columns)})
        .returning(PrivacyRequest)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


def overdue_condition(now: datetime) -> Any:
    return and_(PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at < now)


def _like_prefix(text: str) -> str:
    """``text%`` for LIKE with ``\\`` as the escape: a ``%`` or ``_`` typed in a search matches itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_condition(search: str, search_hash: str | None) -> Any:
    """An email starting with ``search`` (lower case: addresses are stored so; on PostgreSQL the
    ``varchar_pattern_ops`` index answers the prefix) or the customer id ``search`` exactly."""
    conditions = [
        PrivacyRequest.email.like(_like_prefix(search.lower()), escape="\\"),
        PrivacyRequest.customer_id == search,
    ]
    if search_hash is not None:
        conditions.append(PrivacyRequest.email_hash == search_hash)
    return or_(*conditions)


def list_query(filters: ListFilters, *, now: datetime, columns: Sequence[Any] = ()) -> Select[Any]:
    """The filtered requests (no order); ``columns`` instead of the whole row when given."""
    query: Select[Any] = select(*columns) if columns else select(PrivacyRequest)
    if filters.statuses:
        query = query.where(PrivacyRequest.status.in_(filters.statuses))
    elif filters.overdue is not True:  # overdue means open, which already leaves out deleted
        query = query.where(PrivacyRequest.status != Status.DELETED)
    if filters.type is not None:
        query = query.where(PrivacyRequest.type == filters.type)
    if filters.email is not None and filters.email_hash is not None:
        query = query.where(
            or_(PrivacyRequest.email == filters.email, PrivacyRequest.email_hash == filters.email_hash)
        )
    elif filters.email is not None:
        query = query.where(PrivacyRequest.email == filters.email)
    if filters.customer_id is not None:
        query = query.where(PrivacyRequest.customer_id == filters.customer_id)
    if filters.overdue is True:
        query = query.where(overdue_condition(now))
    elif filters.overdue is False:
        query = query.where(not_(overdue_condition(now)))
    if filters.due_before is not None:
        # A request is never due before it is received, so this bound lets the receipt index narrow the scan.
        query = query.where(
            PrivacyRequest.due_at < filters.due_before, PrivacyRequest.received_at < filters.due_before
        )
    if filters.received_after is not None:
        query = query.where(PrivacyRequest.received_at >= filters.received_after)
    if filters.received_before is not None:
        query = query.where(PrivacyRequest.received_at < filters.received_before)
    if filters.search is not None:
        query = query.where(search_condition(filters.search, filters.search_hash))
    return query


def sort_column(sort: str) -> Any:
    return PrivacyRequest.received_at if sort.lstrip("-") == "received_at" else PrivacyRequest.due_at


def cursor_after(row: Any, *, sort: str) -> Cursor:
    """The keyset position just after ``row`` (a request, or a plain row with its sort column and ``id``)."""
    return Cursor(sort=sort, key=clock.as_utc(getattr(row, sort_column(sort).key)), id=row.id)


def keyset(query: Select[Any], *, sort: str, cursor: Cursor | None) -> Select[Any]:
    """``query`` in the list's keyset order (sort column, then id), after ``cursor`` when given."""
    column = sort_column(sort)
    descending = sort.startswith("-")
    if cursor is not None:
        after = tuple_(column, PrivacyRequest.id)
        boundary = tuple_(cursor.key, cursor.id)
        query = query.where(after < boundary if descending else after > boundary)
    if descending:
        return query.order_by(column.desc(), PrivacyRequest.id.desc())
    return query.order_by(column.asc(), PrivacyRequest.id.asc())


def page_query(
    filters: ListFilters, *, sort: str, limit: int, cursor: Cursor | None, now: datetime
) -> Select[Any]:
    """The SQL of one page: the ids first (a narrow scan that a covering index answers without reading the
    table: ``overdue`` and ``due_before`` skip many rows of the sort index), then those rows."""
    if filters.overdue is True and sort.lstrip("-") == "received_at":
        ids = _overdue_by_receipt(filters, sort=sort, limit=limit, cursor=cursor, now=now)
    else:
        ids = (
            keyset(list_query(filters, now=now, columns=[PrivacyRequest.id]), sort=sort, cursor=cursor)
            .limit(limit)
            .subquery("page")
        )
    joined = select(PrivacyRequest).join(ids, PrivacyRequest.id == ids.c.id)
    return keyset(joined, sort=sort, cursor=None)


def _overdue_by_receipt(
    filters: ListFilters, *, sort: str, limit: int, cursor: Cursor | None, now: datetime
) -> Any:
    """The page's ids of overdue requests in order of receipt. The newest open requests are the ones not due
    yet, so walking the receipt index passes every one of them before the first overdue one; instead the
    overdue ones are collected from the open requests' due-date index (``OFFSET 0`` keeps PostgreSQL from
    merging the two steps back into that walk) and sorted: the cost follows the overdue requests, few
    in a team that keeps its deadlines, not the open ones."""
    candidates = list_query(filters, now=now, columns=[PrivacyRequest.id, PrivacyRequest.received_at])
    if cursor is not None:
        after = tuple_(PrivacyRequest.received_at, PrivacyRequest.id)
        boundary = tuple_(cursor.key, cursor.id)
        candidates = candidates.where(after < boundary if sort.startswith("-") else after > boundary)
    overdue = candidates.offset(0).subquery("overdue")
    order = (overdue.c.received_at, overdue.c.id)
    ordered = select(overdue.c.id).order_by(
        *(column.desc() if sort.startswith("-") else column.asc() for column in order)
    )
    return ordered.limit(limit).subquery("page")


async def list_page(
    session: AsyncSession,
    filters: ListFilters,
    *,
    sort: str,
    limit: int,
    cursor: Cursor | None,
    now: datetime,
) -> list[PrivacyRequest]:
    """One page in keyset order (sort column, then id), starting after ``cursor``; ``limit + 1`` rows."""
    query = page_query(filters, sort=sort, limit=limit + 1, cursor=cursor, now=now)
    return list((await session.scalars(query)).all())


async def list_values(
    session: AsyncSession,
    filters: ListFilters,
    *,
    columns: Sequence[Any],
    sort: str,
    limit: int,
    cursor: Cursor | None,
    now: datetime,
) -> list[Any]:
    """:func:`list_page` as plain rows of ``columns`` (no ORM objects: the CSV export's many pages)."""
    query = page_query(filters, sort=sort, limit=limit + 1, cursor=cursor, now=now).with_only_columns(
        *columns
    )
    return list((await session.execute(query)).all())


async def selection_ids(
    session: AsyncSession, filters: ListFilters, *, sort: str, limit: int, now: datetime
) -> list[uuid.UUID]:
    """The ids of the filtered requests in the list's order, at most ``limit`` (a bulk action's selection)."""
    query = keyset(list_query(filters, now=now, columns=[PrivacyRequest.id]), sort=sort, cursor=None)
    return list((await session.scalars(query.limit(limit))).all())


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[PrivacyRequest]:
    """The requests with these ids as they are now, in one query (those that exist)."""
    if not ids:
        return []
    query = select(PrivacyRequest).where(PrivacyRequest.id.in_(ids)).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


async def lock_still_selected(
    session: AsyncSession, filters: ListFilters, ids: Sequence[uuid.UUID], *, now: datetime
) -> list[PrivacyRequest]:
    """The requests among ``ids`` that still match ``filters``, as they are now, their rows locked until the
    transaction ends (PostgreSQL ``FOR UPDATE``, in id order so that two callers lock in the same order; on
    SQLite every writing transaction already holds the database's one write lock, ``BEGIN IMMEDIATE``).
    A request moved meanwhile is judged as it is now: PostgreSQL re-checks the filters once its lock is had."""
    if not ids:
        return []
    query = (
        list_query(filters, now=now)
        .where(PrivacyRequest.id.in_(ids))
        .order_by(PrivacyRequest.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def transition_many(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, expected_status: str, values: dict[str, Any]
) -> list[PrivacyRequest]:
    """:func:`transition` for many requests in one statement: each moves only if still in ``expected_status``;
    the ones returned moved, the others were changed by someone else meanwhile."""
    if not ids:
        return []
    result = await session.scalars(
        update(PrivacyRequest)
        .where(PrivacyRequest.id.in_(ids), PrivacyRequest.status == expected_status)
        .values(**values)
        .returning(PrivacyRequest)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return list(result.all())


async def list_for_customer(
    session: AsyncSession, customer_id: str, *, limit: int = 200
) -> Sequence[PrivacyRequest]:
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.customer_id == customer_id)
        .order_by(PrivacyRequest.received_at.desc(), PrivacyRequest.id.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def count_by_status_and_type(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(status, type, count) for every combination present, in one grouped query."""
    query = select(PrivacyRequest.status, PrivacyRequest.type, func.count()).group_by(
        PrivacyRequest.status, PrivacyRequest.type
    )
    return [
        (str(status), str(type_), int(count)) for status, type_, count in (await session.execute(query)).all()
    ]


async def count_where(session: AsyncSession, *conditions: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(PrivacyRequest).where(*conditions)) or 0)


def due_within_condition(now: datetime, until: datetime) -> Any:
    return and_(
        PrivacyRequest.status.in_(OPEN_STATUSES), PrivacyRequest.due_at >= now, PrivacyRequest.due_at < until
    )


_CONFLICT_FREE_INSERTS: dict[tuple[str, str, tuple[str, ...], str | None], Any] = {}


async def insert_unless_conflict(
    session: AsyncSession,
    model: type[Base],
    values: dict[str, Any],
    *,
    index_elements: list[str],
    index_where: str | None = None,
) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` in one round trip; False when a unique row already exists.

    On PostgreSQL a conflicting insert in flight makes this wait for it to commit (then False) or roll back
    (then this insert goes in), so concurrent submits settle without savepoints. ``index_where`` is literal
    SQL: PostgreSQL must match it to a partial unique index's predicate, which bound parameters defeat.
    """
    dialect = session.get_bind().dialect.name
    key = (dialect, model.__tablename__, tuple(index_elements), index_where)
    statement = _CONFLICT_FREE_INSERTS.get(key)
    if statement is None:
        # Built once per table: the values travel as parameters, so each call skips building a statement.
        table = cast(Table, model.__table__)
        insert = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        statement = insert.on_conflict_do_nothing(
            index_elements=index_elements, index_where=text(index_where) if index_where else None
        )
        _CONFLICT_FREE_INSERTS[key] = statement
    connection = await session.connection()
    result = await connection.execute(statement, values)
    return bool(result.rowcount)


async def complete_idempotent(
    session: AsyncSession,
    *,
    api_key_id: uuid.UUID,
    key: str,
    request_id: uuid.UUID,
    status_code: int,
    body: dict[str, Any],
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
        .values(request_id=request_id, status_code=status_code, response_body=body)
    )


async def find_idempotent(session: AsyncSession, *, api_key_id: uuid.UUID, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
    return (await session.scalars(query)).first()


async def closed_unredacted(
    session: AsyncSession, *, status: str, closed_before: datetime, limit: int
) -> list[PrivacyRequest]:
    """Up to ``limit`` requests in the closed ``status`` that closed at or before ``closed_before`` and are not
    redacted yet, longest closed first (the partial index per closed status)."""
    closed_at = getattr(PrivacyRequest, CLOSED_AT[status])
    query = (
        select(PrivacyRequest)
        .where(text(unredacted_sql(status)), closed_at <= closed_before)
        .order_by(closed_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def redact(session: AsyncSession, request_id: uuid.UUID, *, values: dict[str, Any]) -> bool:
    """Write the redacted ``values`` unless the request was redacted already (by another sweeper)."""
    result = await session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.id == request_id, PrivacyRequest.redacted_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_idempotency_keys_before(session: AsyncSession, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` idempotency keys recorded before ``before``: a repeat after that is a new submit."""
    return await delete_oldest(
        session, IdempotencyKey.id, IdempotencyKey.created_at, before=before, limit=limit
    )


async def clear_deadline_alerts(session: AsyncSession, request_id: uuid.UUID) -> None:
    """Forget the alerts sent for a request (its due date moved: the new one is alerted afresh)."""
    await session.execute(delete(DeadlineAlert).where(DeadlineAlert.request_id == request_id))


async def unverified_expired(session: AsyncSession, *, now: datetime, limit: int) -> list[PrivacyRequest]:
    """Unconfirmed deletions whose confirmation link has expired."""
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.status == Status.UNVERIFIED, PrivacyRequest.verification_expires_at <= now)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def pending_access_due_by(session: AsyncSession, *, until: datetime, limit: int) -> list[uuid.UUID]:
    query = (
        select(PrivacyRequest.id)
        .where(
            PrivacyRequest.status == Status.PENDING,
            PrivacyRequest.type == "access",
            PrivacyRequest.due_at <= until,
        )
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def open_not_yet_alerted(
    session: AsyncSession, kind: str, *, due_after: datetime | None, due_by: datetime, limit: int
) -> list[PrivacyRequest]:
    """Open requests due in (``due_after``, ``due_by``] with no ``kind`` alert yet, soonest due first.

    The "not yet" is in SQL, so requests alerted long ago never crowd out new ones however many there are.
    """
    alerted = select(DeadlineAlert.request_id).where(
        DeadlineAlert.request_id == PrivacyRequest.id, DeadlineAlert.kind == kind
    )
    conditions = [PrivacyRequest.due_at <= due_by]
    if due_after is not None:
        conditions.append(PrivacyRequest.due_at > due_after)
    query = (
        select(PrivacyRequest)
        .where(PrivacyRequest.status.in_(OPEN_STATUSES), *conditions, ~alerted.exists())
        .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def alert_marks(
    session: AsyncSession, request_ids: list[uuid.UUID], kinds: list[str]
) -> set[tuple[uuid.UUID, str]]:
    """Which of these (request, alert kind) marks exist."""
    if not request_ids or not kinds:
        return set()
    rows = await session.execute(
        select(DeadlineAlert.request_id, DeadlineAlert.kind).where(
            DeadlineAlert.request_id.in_(request_ids), DeadlineAlert.kind.in_(kinds)
        )
    )
    return {(row.request_id, row.kind) for row in rows}


def add_alert(session: AsyncSession, request_id: uuid.UUID, kind: str, *, at: datetime) -> None:
    session.add(DeadlineAlert(request_id=request_id, kind=kind, at=at))


# -- a submit in one statement (PostgreSQL) ---------------------------------------------------------------------

# What a submit's unit of work may hold beside the request, written by the request's own INSERT statement.
_WITH_REQUEST: tuple[type[Base], ...] = (RequestEvent, Email, Job)
_SUBMIT_STATEMENTS: dict[tuple[tuple[str, tuple[str, ...], int], ...], Any] = {}


class Unsupported(Exception):
    """The rows cannot go in the request's statement (a kind of row or a value it does not write)."""


@dataclass(frozen=True)
class InsertedWith:
    inserted: bool  # False: an open request of the subject and type exists (nothing was written)
    subscribed: bool  # True: a webhook subscription exists, so nothing was written and the caller flushes


# How each column of a mapped class gets its value when a row goes in without the ORM's flush: from the object,
# else (an attribute never set) by one of these rules.
_SKIP, _DEFAULT, _NULL, _GIVEN = "skip", "default", "null", "given"


@functools.cache
def _layout(cls: type[Base]) -> tuple[Table, tuple[tuple[str, str, str, Any], ...]]:
    """Per column of ``cls``'s table, once per class: (column, attribute, rule when the attribute was never set,
    the default). Looking the mapper's properties up for every row cost more than reading the values."""
    mapper = inspect(cls)
    table = cast(Table, mapper.local_table)
    layout = []
    for column in table.columns:
        if column.primary_key and column.autoincrement is True:
            rule, default = _SKIP, None  # numbered by the database
        elif column.default is not None and column.default.is_scalar:
            rule, default = _DEFAULT, column.default.arg  # type: ignore[attr-defined]
        elif column.nullable and column.default is None and column.server_default is None:
            rule, default = _NULL, None
        else:
            rule, default = _GIVEN, None  # the row must give it
        layout.append((column.key, mapper.get_property_by_column(column).key, rule, default))
    return table, tuple(layout)


def _row_values(row: Base) -> tuple[Table, dict[str, Any]]:
    """The table of a pending ``row`` and its column values (an autoincrement key left to the database)."""
    table, layout = _layout(type(row))
    given = row.__dict__
    values: dict[str, Any] = {}
    for column, attribute, rule, default in layout:
        if attribute in given:
            values[column] = given[attribute]
        elif rule == _DEFAULT:
            values[column] = default
        elif rule == _NULL:
            values[column] = None
        elif rule == _GIVEN:
            raise Unsupported(f"{table.name}.{column} has no value")
    return table, values


def column_values(row: Base) -> dict[str, Any]:
    """Every column of a new ``row``'s table with its value (None where its attribute was never set), as reading
    each attribute gives, for an INSERT written without the ORM's flush."""
    _table, layout = _layout(type(row))
    given = row.__dict__
    return {column: given.get(attribute) for column, attribute, _rule, _default in layout}


def _submit_statement(shape: tuple[tuple[str, tuple[str, ...], int], ...]) -> Any:
    """``INSERT`` of the request unless an open one of its subject and type exists or a webhook subscription does,
    and of each table's rows of ``shape`` (table, columns, count) only if the request went in; it answers
    (subscribed, the new request's id or NULL). Built once per shape: the values travel as parameters."""
    requests = cast(Table, PrivacyRequest.__table__)
    subscribed = exists().where(WebhookSubscription.deleted_at.is_(None))
    source = select(*(bindparam(f"r_{c.key}", type_=c.type) for c in requests.columns)).where(~subscribed)
    request = (
        postgresql_insert(requests)
        .from_select([c.key for c in requests.columns], source)
        .on_conflict_do_nothing(index_elements=["subject", "type"], index_where=text(OPEN_SQL))
        .returning(requests.c.id)
        .cte("request")
    )
    went_in = exists(select(request.c.id))
    statement = select(subscribed.label("subscribed"), select(request.c.id).scalar_subquery().label("id"))
    for name, columns, count in shape:
        table = Base.metadata.tables[name]
        rows = [
            select(
                literal(i).label("_n"),
                *(bindparam(f"{name}_{i}_{c}", type_=table.c[c].type).label(c) for c in columns),
            )
            for i in range(count)
        ]
        given = (rows[0] if count == 1 else union_all(*rows)).subquery(f"{name}_given")
        # In the order given: an autoincrement key numbers the rows as the ORM would (the timeline's order).
        insert_rows = insert(table).from_select(
            list(columns), select(*(given.c[c] for c in columns)).where(went_in).order_by(given.c._n)
        )
        statement = statement.add_cte(insert_rows.cte(f"{name}_in"))
    return statement


async def insert_request(session: AsyncSession, values: dict[str, Any]) -> bool:
    """The request (``values``) unless an open one of its subject and type exists; True when it went in."""
    return await insert_unless_conflict(
        session, PrivacyRequest, values, index_elements=["subject", "type"], index_where=OPEN_SQL
    )


async def insert_with_rows(
    session: AsyncSession, values: dict[str, Any], rows: Sequence[Base]
) -> InsertedWith:
    """PostgreSQL: the request (``values``) and the rows a submit stages in its unit of work (``rows``: its
    timeline events, email and jobs, not yet flushed), in one statement. Nothing is written when an open request
    of the same subject and type exists (the partial unique index decides, as :func:`insert_request`), nor
    when a webhook subscription exists: its events are raised by the flush (app.webhooks.emission), so the
    caller inserts the request alone and lets the unit of work write the rest. Raises :class:`Unsupported` for
    rows it does not write (the caller then does the same)."""
    by_table: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if not isinstance(row, _WITH_REQUEST):
            raise Unsupported(type(row).__name__)
        table, row_values = _row_values(row)
        by_table.setdefault(table.name, []).append(row_values)
    shape: list[tuple[str, tuple[str, ...], int]] = []
    parameters = {f"r_{key}": value for key, value in values.items()}
    for name, of_table in by_table.items():
        columns = tuple(of_table[0])
        if any(tuple(row_values) != columns for row_values in of_table):
            raise Unsupported(f"{name}: rows with different columns")
        shape.append((name, columns, len(of_table)))
        for i, row_values in enumerate(of_table):
            parameters.update({f"{name}_{i}_{key}": value for key, value in row_values.items()})
    key = tuple(shape)
    statement = _SUBMIT_STATEMENTS.get(key)
    if statement is None:
        statement = _SUBMIT_STATEMENTS[key] = _submit_statement(key)
    connection = await session.connection()
    subscribed, request_id = (await connection.execute(statement, parameters)).one()
    return InsertedWith(inserted=request_id is not None, subscribed=bool(subscribed))
