"""List benchmark: GET /v1/privacy-requests over 1,000,000 seeded requests, for each filter and each sort,
on the first page and on a page 1,000 pages deep, through the HTTP API of `python -m app serve --no-worker`.

Baselines: for a first page, the same SQL (compiled from the app's own query builder) run bare with psycopg;
for a deep page, the first page of the same case. The deep page's cursor is built from the row at that depth
(found with OFFSET), and once checked against the cursor reached by following ``next_cursor`` page by page.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from common import (
    RawHttp,
    Row,
    Workspace,
    app_env,
    cpu_seconds,
    create_api_key,
    free_port,
    percentile,
    section,
    serving,
    sync_url,
    truncate,
)
from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql

from app.core.clock import as_utc
from app.models import PrivacyRequest
from app.requests.repository import Cursor, ListFilters, list_query
from app.requests.service import decode_cursor, encode_cursor

LIMIT = 50
P95_GOAL_MS = 20.0
DEEP_GOAL = 1.5

# Spacing of received_at: 1,000,000 requests span about two years, ~41,000 in the last 30 days.
SPACING_SECONDS = 63

SEED_SQL = """
INSERT INTO privacy_requests (id, type, status, regulation, email, customer_id, customer_name, customer_email,
    subject, channel, locale, handling, received_at, due_at, verified_at, accepted_at, processed_at,
    deleted_at, extended_at, result, verification_token_hash, verification_expires_at)
SELECT md5('seed' || i)::uuid,
       kind,
       status,
       CASE WHEN i % 20 = 0 THEN 'ccpa' ELSE 'gdpr' END,
       'user' || (i % 200000) || '@example.com',
       CASE WHEN i % 10 < 7 THEN 'cus_' || lpad((i % 100000)::text, 6, '0') END,
       CASE WHEN i % 10 < 7 THEN 'Customer ' || (i % 100000) END,
       CASE WHEN i % 10 < 7 THEN 'user' || (i % 200000) || '@example.com' END,
       'seed:' || i,
       (ARRAY['ios', 'android', 'web'])[i % 3 + 1],
       CASE WHEN i % 4 = 0 THEN 'de' ELSE 'en' END,
       CASE WHEN status IN ('in_progress', 'processed') AND kind = 'access' THEN 'automatic' END,
       received_at,
       received_at + CASE WHEN i % 20 = 0 THEN interval '45 days' ELSE interval '30 days' END,
       CASE WHEN kind = 'deletion' AND status IN ('in_progress', 'processed') THEN received_at + interval '1 hour' END,
       CASE WHEN kind = 'access' AND status IN ('in_progress', 'processed') THEN received_at + interval '2 days' END,
       CASE WHEN status = 'processed' THEN received_at + interval '3 days' END,
       CASE WHEN status = 'deleted' THEN received_at + interval '1 day' END,
       NULL, NULL, NULL,
       CASE WHEN status = 'unverified' THEN received_at + interval '7 days' END
FROM (
    SELECT i, received_at, status,
           CASE WHEN status IN ('unverified', 'expired') THEN 'deletion'
                WHEN status = 'pending' THEN 'access'
                WHEN i % 3 = 0 THEN 'deletion' ELSE 'access' END AS kind
    FROM (
        SELECT i,
               now() - i * interval '{spacing} seconds' AS received_at,
               CASE
                 WHEN i < {recent} THEN (ARRAY['pending', 'pending', 'unverified', 'in_progress', 'processed',
                      'processed', 'failed', 'pending', 'unverified', 'processed'])[i % 10 + 1]
                 WHEN i % 200 = 0 THEN 'pending'
                 WHEN i % 50 = 1 THEN 'deleted'
                 WHEN i % 50 = 2 THEN 'expired'
                 ELSE 'processed'
               END AS status
        FROM generate_series(0, {count} - 1) AS i
    ) AS numbered
) AS seeded
"""


@dataclass
class Case:
    name: str
    params: list[tuple[str, str]]
    filters: ListFilters
    sort: str = "-received_at"
    explain: bool = False


@dataclass
class Result:
    case: Case
    first_ms: list[float] = field(default_factory=list)
    deep_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    deep_pages: int = 0
    deep_cursor: str | None = None
    matches: int | None = None


def cases(now: datetime) -> list[Case]:
    def iso(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    year_ago = now - timedelta(days=365)
    month_window = (year_ago - timedelta(days=30), year_ago)
    open_statuses = ("pending", "unverified", "in_progress", "failed")
    return [
        Case("no filter, sort -received_at (default)", [], ListFilters(), explain=True),
        Case("no filter, sort received_at", [("sort", "received_at")], ListFilters(), "received_at"),
        Case("no filter, sort due_at", [("sort", "due_at")], ListFilters(), "due_at"),
        Case("no filter, sort -due_at", [("sort", "-due_at")], ListFilters(), "-due_at"),
        Case("status=pending", [("status", "pending")], ListFilters(statuses=("pending",))),
        Case(
            "status=pending, sort due_at",
            [("status", "pending"), ("sort", "due_at")],
            ListFilters(statuses=("pending",)),
            "due_at",
            explain=True,
        ),
        Case(
            "status=4 open statuses, sort due_at",
            [*(("status", s) for s in open_statuses), ("sort", "due_at")],
            ListFilters(statuses=open_statuses),
            "due_at",
            explain=True,
        ),
        Case("status=processed", [("status", "processed")], ListFilters(statuses=("processed",))),
        Case("status=deleted", [("status", "deleted")], ListFilters(statuses=("deleted",))),
        Case("type=deletion", [("type", "deletion")], ListFilters(type="deletion")),
        Case(
            "email",
            [("email", "user123@example.com")],
            ListFilters(email="user123@example.com"),
            explain=True,
        ),
        Case("customer_id", [("customer_id", "cus_000123")], ListFilters(customer_id="cus_000123")),
        Case("overdue=true", [("overdue", "true")], ListFilters(overdue=True), explain=True),
        Case(
            "overdue=true, sort due_at",
            [("overdue", "true"), ("sort", "due_at")],
            ListFilters(overdue=True),
            "due_at",
        ),
        Case("overdue=false", [("overdue", "false")], ListFilters(overdue=False)),
        Case(
            "due_before (a year ago)",
            [("due_before", iso(year_ago))],
            ListFilters(due_before=year_ago),
        ),
        Case(
            "received_after (7 days ago)",
            [("received_after", iso(now - timedelta(days=7)))],
            ListFilters(received_after=now - timedelta(days=7)),
        ),
        Case(
            "received_before (a year ago)",
            [("received_before", iso(year_ago))],
            ListFilters(received_before=year_ago),
        ),
        Case(
            "received_after+before (a month, a year ago)",
            [("received_after", iso(month_window[0])), ("received_before", iso(month_window[1]))],
            ListFilters(received_after=month_window[0], received_before=month_window[1]),
            explain=True,
        ),
    ]


def ordered(query: Any, sort: str, cursor: Cursor | None = None) -> Any:
    """The app's keyset order (repository.list_page), applied to ``query``."""
    column = PrivacyRequest.received_at if sort.lstrip("-") == "received_at" else PrivacyRequest.due_at
    descending = sort.startswith("-")
    if cursor is not None:
        after = tuple_(column, PrivacyRequest.id)
        boundary = tuple_(cursor.key, cursor.id)
        query = query.where(after < boundary if descending else after > boundary)
    if descending:
        return query.order_by(column.desc(), PrivacyRequest.id.desc())
    return query.order_by(column.asc(), PrivacyRequest.id.asc())


def compiled(query: Any) -> tuple[bytes, dict[str, Any]]:
    """The statement as psycopg runs it (bytes: psycopg's typing wants literal strings for str queries)."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    sql = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(sql).encode(), dict(sql.params)


def seed(url: str, count: int) -> float:
    started = time.perf_counter()
    recent = 30 * 86400 // SPACING_SECONDS
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        conn.execute(SEED_SQL.format(spacing=SPACING_SECONDS, recent=recent, count=count).encode())
        conn.execute("VACUUM (ANALYZE) privacy_requests")
    return time.perf_counter() - started


def deep_cursor(
    conn: psycopg.Connection[Any], case: Case, now: datetime, pages: int
) -> tuple[str | None, int]:
    """The cursor that opens page ``pages + 1`` (or the last full page when there are fewer rows)."""
    base = list_query(case.filters, now=now)
    keys = base.with_only_columns(PrivacyRequest.id, PrivacyRequest.received_at, PrivacyRequest.due_at)
    sql, params = compiled(ordered(keys, case.sort).offset(pages * LIMIT - 1).limit(1))
    row = conn.execute(sql, params).fetchone()
    if row is None:
        total_sql, total_params = compiled(select(func.count()).select_from(base.subquery()))
        total_row = conn.execute(total_sql, total_params).fetchone()
        total = int(total_row[0]) if total_row else 0
        pages = (total - 1) // LIMIT
        if pages < 1:
            return None, 0
        sql, params = compiled(ordered(keys, case.sort).offset(pages * LIMIT - 1).limit(1))
        row = conn.execute(sql, params).fetchone()
        assert row is not None
    request_id, received_at, due_at = row
    key = received_at if case.sort.lstrip("-") == "received_at" else due_at
    return encode_cursor(Cursor(sort=case.sort, key=as_utc(key), id=request_id)), pages


async def measure(
    port: int, key: str, results: list[Result], *, repeat: int, url: str, now: datetime
) -> None:
    http = RawHttp(port)
    headers = {"Authorization": f"Bearer {key}"}
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        for result in results:
            case = result.case
            first = "/v1/privacy-requests?" + urlencode([*case.params, ("limit", str(LIMIT))])
            first_raw = http.build("GET", first, headers=headers)
            deep_raw = (
                http.build("GET", first + "&" + urlencode({"cursor": result.deep_cursor}), headers=headers)
                if result.deep_cursor
                else None
            )
            sql, params = compiled(ordered(list_query(case.filters, now=now), case.sort).limit(LIMIT + 1))
            for i in range(repeat + 3):  # three warm-up rounds, interleaved so drift hits both alike
                started = time.perf_counter()
                status, body = await http.send(first_raw)
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    raise RuntimeError(f"{case.name}: HTTP {status}: {body[:300]!r}")
                if i >= 3:
                    result.first_ms.append(elapsed)
                if deep_raw is not None:
                    started = time.perf_counter()
                    status, body = await http.send(deep_raw)
                    elapsed = (time.perf_counter() - started) * 1000
                    if status != 200 or not json.loads(body)["items"]:
                        raise RuntimeError(f"{case.name} deep: HTTP {status}: {body[:300]!r}")
                    if i >= 3:
                        result.deep_ms.append(elapsed)
                started = time.perf_counter()
                conn.execute(sql, params).fetchall()
                if i >= 3:
                    result.sql_ms.append((time.perf_counter() - started) * 1000)
    await http.close()


async def follow(port: int, key: str, pages: int, expected_cursor: str | None) -> tuple[float, bool]:
    """Follow next_cursor ``pages`` times on the default list; (mean ms per page, reached the built cursor)."""
    http = RawHttp(port)
    headers = {"Authorization": f"Bearer {key}"}
    cursor: str | None = None
    started = time.perf_counter()
    for _ in range(pages):
        path = "/v1/privacy-requests?" + urlencode({"limit": LIMIT, **({"cursor": cursor} if cursor else {})})
        status, body = await http.request("GET", path, headers=headers)
        if status != 200:
            raise RuntimeError(f"following the cursor: HTTP {status}: {body[:300]!r}")
        cursor = json.loads(body)["next_cursor"]
        if cursor is None:
            break
    elapsed = time.perf_counter() - started
    await http.close()
    return elapsed / pages * 1000, cursor == expected_cursor


def explain(url: str, results: list[Result], now: datetime, out: Path) -> None:
    texts: list[str] = []
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        for result in results:
            if not result.case.explain:
                continue
            for label, cursor_text in (("first page", None), ("deep page", result.deep_cursor)):
                if label == "deep page" and cursor_text is None:
                    continue
                cursor = None
                if cursor_text is not None:
                    cursor = decode_cursor(cursor_text, sort=result.case.sort)
                query = ordered(list_query(result.case.filters, now=now), result.case.sort, cursor).limit(
                    LIMIT + 1
                )
                sql, params = compiled(query)
                plan = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
                texts.append(f"--- {result.case.name}: {label}\n" + "\n".join(str(line[0]) for line in plan))
    report = "\n\n".join(texts)
    out.write_text(report + "\n")
    print("\nEXPLAIN (ANALYZE, BUFFERS) of representative list queries (also in " + str(out) + "):\n")
    print(report)


def run(
    *, url: str, ws: Workspace, work: Path, results: Path, quick: bool, shared: dict[str, Any]
) -> list[Row]:
    count = 50_000 if quick else 1_000_000
    depth = 20 if quick else 1000
    repeat = 10 if quick else 40
    section(f"2. list: GET /v1/privacy-requests over {count:,} requests (first page, {depth:,} pages deep)")
    truncate(url)
    seconds = seed(url, count)
    print(
        f"seeded {count:,} requests with INSERT ... SELECT generate_series + VACUUM ANALYZE in {seconds:.1f} s"
    )
    env = app_env(ws, url)
    key = create_api_key(env, role="operator", name="bench-list")
    now = datetime.now(UTC)
    measured = [Result(case) for case in cases(now)]
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        for result in measured:
            result.deep_cursor, result.deep_pages = deep_cursor(conn, result.case, now, depth)

    port = free_port()
    with serving(env, port=port, log=work / "logs" / "list-serve.log", with_worker=False) as server:
        per_page_ms, same = asyncio.run(follow(port, key, depth, measured[0].deep_cursor))
        cpu_before = cpu_seconds(server.pid)
        print(
            f"followed next_cursor {depth:,} times on the default list: {per_page_ms:.1f} ms per page; "
            f"reached the same position as the cursor built from row {depth * LIMIT:,}: {'yes' if same else 'NO'}"
        )
        asyncio.run(measure(port, key, measured, repeat=repeat, url=url, now=now))
        calls = sum(len(r.first_ms) + len(r.deep_ms) + 3 * (1 + bool(r.deep_ms)) for r in measured)
        cpu_ms = (cpu_seconds(server.pid) - cpu_before) * 1000 / calls
    print(f"server CPU per list call ({LIMIT} items): {cpu_ms:.1f} ms over {calls:,} calls")
    explain(url, measured, now, results / "list_plans.txt")

    print(f"\n{'case':<46} {'first p50':>9} {'p95':>7} {'SQL p95':>8} {'deep p50':>9} {'p95':>7}  depth")
    rows: list[Row] = []
    for result in measured:
        first95 = percentile(result.first_ms, 95)
        sql95 = percentile(result.sql_ms, 95)
        deep95 = percentile(result.deep_ms, 95) if result.deep_ms else float("nan")
        print(
            f"{result.case.name:<46} {percentile(result.first_ms, 50):9.1f} {first95:7.1f} {sql95:8.1f} "
            f"{percentile(result.deep_ms, 50) if result.deep_ms else float('nan'):9.1f} {deep95:7.1f}  "
            f"{result.deep_pages:,} pages"
        )
        rows.append(
            Row(
                f"list p95 first: {result.case.name}",
                f"{first95:.1f} ms",
                f"{sql95:.1f} ms bare SQL",
                f"{first95 / sql95:.1f}x" if sql95 else "n/a",
                f"< {P95_GOAL_MS:.0f} ms",
                first95 < P95_GOAL_MS,
            )
        )
        if result.deep_ms:
            rows.append(
                Row(
                    f"list p95 deep ({result.deep_pages:,} pages): {result.case.name}",
                    f"{deep95:.1f} ms",
                    f"{first95:.1f} ms first page",
                    f"{deep95 / first95:.2f}x",
                    f"<= {DEEP_GOAL}x first, < {P95_GOAL_MS:.0f} ms",
                    deep95 <= DEEP_GOAL * first95 and deep95 < P95_GOAL_MS,
                )
            )
        else:
            rows.append(
                Row(
                    f"list deep: {result.case.name}",
                    "n/a: fewer than two pages match",
                    "-",
                    "-",
                )
            )
    rows.append(
        Row(
            f"list: follow next_cursor {depth:,} pages",
            f"{per_page_ms:.1f} ms/page",
            "-",
            "-",
            "same position as the built cursor",
            same,
        )
    )
    return rows
