"""List benchmark: GET /v1/privacy-requests over 1,000,000 seeded requests, for each filter, each sort and the
search (``q``), on the first page and on a page 1,000 pages deep, through the HTTP API of
`python -m app serve --no-worker`; then the cockpit's heavier calls on the same data: the CSV export of a
filtered 10,000-request slice (GET /v1/privacy-requests/export.csv) and a bulk accept of 1,000 requests.

Baselines: for a first page, the same SQL (compiled from the app's own query builder) run bare with psycopg;
for a deep page, the first page of the same case; for the CSV, the same rows fetched bare with psycopg and
written with the csv module. The deep page's cursor is built from the row at that depth (found with OFFSET),
and once checked against the cursor reached by following ``next_cursor`` page by page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
from common import (
    SECRET_KEY,
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
from app.requests.redaction import email_hash
from app.requests.repository import Cursor, ListFilters, list_query, page_query
from app.requests.service import decode_cursor, encode_cursor

LIMIT = 50
P95_GOAL_MS = 20.0
DEEP_GOAL = 1.5
CSV_SLICE = 10_000
CSV_REPEAT = 5
BULK_SLICE = 1_000

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
            explain=True,
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
        # Search: the seed's addresses are user<i % 200000>@example.com, customer ids cus_<6 digits>.
        Case(
            "q: email prefix (user12345)", [("q", "user12345")], ListFilters(search="user12345"), explain=True
        ),
        Case(
            "q: whole email",
            [("q", "user12345@example.com")],
            ListFilters(
                search="user12345@example.com",
                search_hash=email_hash("user12345@example.com", secret_key=SECRET_KEY),
            ),
        ),
        Case("q: short prefix (user1)", [("q", "user1")], ListFilters(search="user1")),
        Case("q: customer id", [("q", "cus_000123")], ListFilters(search="cus_000123"), explain=True),
        Case(
            "q: customer id, status=processed, sort due_at",
            [("q", "cus_000123"), ("status", "processed"), ("sort", "due_at")],
            ListFilters(search="cus_000123", statuses=("processed",)),
            "due_at",
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
        # Loading first and indexing after is several times faster than maintaining a dozen indexes row by
        # row: the secondary indexes (not those behind constraints) are dropped and built again, as they were.
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'privacy_requests' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"'.encode())
        conn.execute(SEED_SQL.format(spacing=SPACING_SECONDS, recent=recent, count=count).encode())
        for _name, definition in indexes:
            conn.execute(definition.encode())
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
            sql, params = compiled(
                page_query(case.filters, sort=case.sort, limit=LIMIT + 1, cursor=None, now=now)
            )
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
                query = page_query(
                    result.case.filters, sort=result.case.sort, limit=LIMIT + 1, cursor=cursor, now=now
                )
                sql, params = compiled(query)
                plan = conn.execute(b"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params).fetchall()
                texts.append(f"--- {result.case.name}: {label}\n" + "\n".join(str(line[0]) for line in plan))
    report = "\n\n".join(texts)
    out.write_text(report + "\n")
    print("\nEXPLAIN (ANALYZE, BUFFERS) of representative list queries (also in " + str(out) + "):\n")
    print(report)


def csv_window(now: datetime) -> tuple[datetime, datetime]:
    """A window of received_at a year back holding CSV_SLICE seeded requests (one every SPACING_SECONDS)."""
    end = now - timedelta(days=365)
    return end - timedelta(seconds=CSV_SLICE * SPACING_SECONDS), end


def bare_csv(url: str, filters: ListFilters, now: datetime) -> tuple[float, int]:
    """The floor: the same rows fetched with psycopg in one query and written with the csv module."""
    query = ordered(list_query(filters, now=now), "-received_at")
    sql, params = compiled(query)
    started = time.perf_counter()
    out = io.StringIO()
    writer = csv.writer(out)
    count = 0
    with psycopg.connect(sync_url(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        for row in cur:
            writer.writerow(row)
            count += 1
    return (time.perf_counter() - started) * 1000, count


def measure_csv(port: int, key: str, params: dict[str, str]) -> tuple[list[float], int, int]:
    """Download the CSV CSV_REPEAT times (after one warm-up): (ms to the last byte each, rows, bytes)."""
    timings: list[float] = []
    rows = size = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for i in range(CSV_REPEAT + 1):
            started = time.perf_counter()
            size = rows = 0
            with client.stream(
                "GET",
                "/v1/privacy-requests/export.csv",
                params=params,
                headers={"Authorization": f"Bearer {key}"},
            ) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"export.csv: HTTP {response.status_code}: {response.read()[:300]!r}")
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    rows += chunk.count(b"\r\n")
            if i:
                timings.append((time.perf_counter() - started) * 1000)
    return timings, rows - 1, size


def measure_bulk(port: int, key: str, now: datetime) -> tuple[int, float, float, dict[str, Any]]:
    """Bulk-accept (manual handling) the BULK_SLICE pending requests received just before a year ago:
    (matched, dry-run ms, accept ms, the answer)."""
    end = now - timedelta(days=365)
    # Seeded pending requests older than 30 days are every 200th: BULK_SLICE of them span this window.
    start = end - timedelta(seconds=BULK_SLICE * 200 * SPACING_SECONDS)
    selection = {
        "status": ["pending"],
        "received_after": start.isoformat().replace("+00:00", "Z"),
        "received_before": end.isoformat().replace("+00:00", "Z"),
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        body: dict[str, Any] = {"filter": selection, "handling": "manual", "dry_run": True}
        started = time.perf_counter()
        counted = client.post("/v1/privacy-requests/bulk/accept", json=body, headers=headers)
        dry_ms = (time.perf_counter() - started) * 1000
        if counted.status_code != 200:
            raise RuntimeError(f"bulk dry run: HTTP {counted.status_code}: {counted.text[:300]}")
        matched = int(counted.json()["matched"])
        body = {"filter": selection, "handling": "manual", "expected_count": matched}
        started = time.perf_counter()
        done = client.post("/v1/privacy-requests/bulk/accept", json=body, headers=headers)
        accept_ms = (time.perf_counter() - started) * 1000
        if done.status_code != 200:
            raise RuntimeError(f"bulk accept: HTTP {done.status_code}: {done.text[:300]}")
    return matched, dry_ms, accept_ms, done.json()


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
        f"seeded {count:,} requests with INSERT ... SELECT generate_series, the indexes built after, and "
        f"VACUUM ANALYZE in {seconds:.1f} s"
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
        # The plans before the bulk accept below changes rows (its pages are then not all-visible until vacuumed).
        explain(url, measured, now, results / "list_plans.txt")
        window = csv_window(now)
        csv_params = {
            "received_after": window[0].isoformat().replace("+00:00", "Z"),
            "received_before": window[1].isoformat().replace("+00:00", "Z"),
        }
        csv_ms, csv_rows, csv_bytes = measure_csv(port, key, csv_params)
        bare_ms, bare_rows = bare_csv(
            url, ListFilters(received_after=window[0], received_before=window[1]), now
        )
        bulk_matched, bulk_dry_ms, bulk_ms, bulk_answer = measure_bulk(port, key, now)
    print(f"server CPU per list call ({LIMIT} items): {cpu_ms:.1f} ms over {calls:,} calls")

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
    print(
        f"\nCSV export of a filtered slice ({csv_rows:,} rows, {csv_bytes / 1e6:.1f} MB): "
        f"p50 {percentile(csv_ms, 50):.0f} ms, p95 {percentile(csv_ms, 95):.0f} ms to the last byte "
        f"({csv_rows / (percentile(csv_ms, 50) / 1000):,.0f} rows/s); bare psycopg + csv: {bare_ms:.0f} ms "
        f"for {bare_rows:,} rows"
    )
    print(
        f"bulk accept (manual) of {bulk_matched:,} pending requests: dry run {bulk_dry_ms:.0f} ms, "
        f"accept {bulk_ms:.0f} ms ({bulk_answer['changed']:,} changed, {bulk_answer['skipped_count']} skipped)"
    )
    rows.append(
        Row(
            f"CSV export, {csv_rows:,} rows (a filtered slice), p50 / p95",
            f"{percentile(csv_ms, 50):.0f} / {percentile(csv_ms, 95):.0f} ms",
            f"{bare_ms:.0f} ms bare psycopg + csv",
            f"{percentile(csv_ms, 50) / bare_ms:.1f}x" if bare_ms else "n/a",
        )
    )
    rows.append(
        Row(
            f"bulk accept of {bulk_matched:,} requests (dry run; act)",
            f"{bulk_dry_ms:.0f} ms; {bulk_ms:.0f} ms",
            "-",
            "-",
            f"{bulk_answer['changed']:,} changed",
            bulk_answer["changed"] == bulk_matched,
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
