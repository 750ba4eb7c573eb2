"""Many small requests end to end (issue 11): a shop of 1,000 customers with integer ids and 3 orders each in
a PostgreSQL source, one `python -m app serve` with its embedded worker, AUTO_ACCEPT_ACCESS=true, the file
mailbox (MAIL_DIR), rate limits off.

Figures, each beside what it is compared with in the same run:
- completed access requests per second: 200 POSTs from 8 clients, until the 200th data-ready email is in the
  mailbox; beside the FLOOR, a bare script doing the same work with no service (select the customer's rows,
  write the zip, write the email file), one customer after another;
- access, one at a time: POST to the package downloaded by its emailed link (median), beside the floor's time
  for one customer;
- deletion, one at a time: the confirmation POST to `processed` (median), beside a bare erase (select, delete
  the orders and the customer in one transaction);
- POST rate from 8 clients (each access request auto-accepted, so the worker runs meanwhile);
- POST one at a time while the worker is busy with a backlog (median), beside the same with no backlog;
- the peak memory of serve (peak RSS of its process and of any child process it starts, and their proportional
  set size at the end, which counts shared libraries once).

    .venv/bin/python bench/run_all.py --only auto          (or --quick)
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import io
import json
import os
import re
import statistics
import time
import uuid
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import httpx
import psycopg
from common import (
    PYTHON,
    Process,
    RawHttp,
    Row,
    Workspace,
    app_env,
    cpu_seconds,
    create_api_key,
    fmt_ratio,
    free_port,
    percentile,
    run_loadgen,
    section,
    serving,
    start,
    sync_url,
    truncate,
    vm_hwm_mib,
)

SCHEMA = "bench_shop"
CUSTOMERS = 1000
ORDERS_PER_CUSTOMER = 3
BURST = 200
CLIENTS = 8
RATE_GOAL = 150.0  # completed access requests per second
FLOOR_RATIO_GOAL = 0.5
ACCESS_GOAL_MS = 50.0
DELETION_GOAL_MS = 30.0
POST_RATE_GOAL = 300.0
BUSY_POST_GOAL_MS = 5.0
MEMORY_GOAL_MB = 150.0
_LINK = re.compile(r"https?://[^/\s]+(/v1/(?:downloads|verify)[^\s<>\"]*)")


def customer_email(i: int) -> str:
    return f"shopper{i}@shop.example"


# ---------------------------------------------------------------- the source


def build_shop(url: str) -> None:
    """The PostgreSQL source: customers with integer ids (email looked up case-insensitively), 3 orders each."""
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{SCHEMA}"')
        conn.execute(
            f"CREATE TABLE {SCHEMA}.customers (id integer PRIMARY KEY, email text NOT NULL, "
            "first_name text, last_name text, created_at timestamptz NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE {SCHEMA}.orders (id integer PRIMARY KEY, customer_id integer NOT NULL, "
            "ordered_at timestamptz NOT NULL, total numeric(10, 2), status text, shipping_address text)"
        )
        with conn.cursor() as cur:
            with cur.copy(f"COPY {SCHEMA}.customers FROM STDIN") as copy:
                for i in range(CUSTOMERS):
                    copy.write_row(
                        (i + 1, customer_email(i), "Shopper", f"Number {i}", "2024-01-02T03:04:05Z")
                    )
            with cur.copy(f"COPY {SCHEMA}.orders FROM STDIN") as copy:
                for i in range(CUSTOMERS):
                    for o in range(ORDERS_PER_CUSTOMER):
                        copy.write_row(
                            (
                                i * ORDERS_PER_CUSTOMER + o + 1,
                                i + 1,
                                f"2024-{1 + o:02d}-15T10:00:00Z",
                                f"{(i * 7 + o * 13) % 200 + 0.99:.2f}",
                                "delivered",
                                f"Street {i % 300}, 10115 Berlin",
                            )
                        )
        conn.execute(f"CREATE INDEX ON {SCHEMA}.customers (lower(email))")
        conn.execute(f"CREATE INDEX ON {SCHEMA}.orders (customer_id)")
        conn.execute(f"ANALYZE {SCHEMA}.customers")
        conn.execute(f"ANALYZE {SCHEMA}.orders")


def write_sources(path: Path, url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "sources:\n"
        "  - name: shop\n"
        "    type: sql\n"
        f"    url: {url}\n"
        f"    schema: {SCHEMA}\n"
        "    directory: {table: customers, id: id, email: email, name: [first_name, last_name]}\n"
        "    entities:\n"
        "      - {name: customers, table: customers, match: {id: customer_id}, erase: delete}\n"
        "      - {name: orders, table: orders, match: {customer_id: customer_id}, erase: delete}\n"
    )
    return path


# ---------------------------------------------------------------- the mailbox


@dataclass
class Mail:
    to: str
    text: str
    seen: float  # time.perf_counter() when this process first saw the file


@dataclass
class Mailbox:
    """The file mailbox, read as files appear (each read once, then removed so a scan stays cheap)."""

    directory: Path
    mails: dict[str, list[Mail]] = field(default_factory=dict)

    def scan(self) -> int:
        """Read the new files; how many there were."""
        if not self.directory.exists():
            return 0
        found = 0
        now = time.perf_counter()
        with os.scandir(self.directory) as entries:
            names = [e.path for e in entries if e.name.endswith(".eml") and not e.name.startswith(".")]
        for name in names:
            path = Path(name)
            # compat32, the parser's own default: a tenth of the CPU of the default policy (0.1 ms against 1.3 ms
            # per email, measured), which this process would otherwise take from the two cores serve runs on.
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
            parts = [_text(p) for p in message.walk() if p.get_content_type() == "text/plain"]
            to = str(message["To"])
            self.mails.setdefault(to, []).append(Mail(to=to, text="\n".join(map(str, parts)), seen=now))
            path.unlink()
            found += 1
        return found

    def link(self, address: str, prefix: str) -> tuple[str, float] | None:
        """The first link starting with ``prefix`` in an email to ``address``, and when it was seen."""
        for mail in self.mails.get(address, []):
            for match in _LINK.finditer(mail.text):
                if match.group(1).startswith(prefix):
                    return match.group(1), mail.seen
        return None

    async def wait_link(
        self, address: str, prefix: str, *, within: float = 60, every: float = 0.002
    ) -> tuple[str, float]:
        deadline = time.perf_counter() + within
        while True:
            found = self.link(address, prefix)
            if found is not None:
                return found
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no {prefix} email reached {address} within {within:.0f} s")
            await asyncio.sleep(every)
            self.scan()

    def clear(self) -> None:
        self.scan()
        self.mails.clear()


def _text(part: Message) -> str:
    """A text part's body, its transfer encoding undone, in its charset."""
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")


# ---------------------------------------------------------------- the floors


def floor_access(url: str, indexes: Iterable[int], out: Path) -> list[float]:
    """The bare work of an access request, one customer after another: select the customer and their orders,
    write the zip (data.json and a CSV per table, deflated as the service does), write the email file (fsynced,
    as the file mailbox does). Seconds per customer."""
    out.mkdir(parents=True, exist_ok=True)
    timings: list[float] = []
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        for i in indexes:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM {SCHEMA}.customers WHERE lower(email) = %s", (customer_email(i),))
                names = [d.name for d in cur.description or []]
                customers = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
                cur.execute(f"SELECT * FROM {SCHEMA}.orders WHERE customer_id = %s", (customers[0]["id"],))
                names = [d.name for d in cur.description or []]
                orders = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            document = {
                "customer": customers[0],
                "sources": {"shop": {"customers": customers, "orders": orders}},
            }
            name = uuid.uuid4().hex
            with zipfile.ZipFile(
                out / f"{name}.zip", "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3
            ) as z:
                z.writestr("data.json", json.dumps(document, default=str))
                for table, rows in (("customers", customers), ("orders", orders)):
                    csv = io.StringIO()
                    csv.write(",".join(rows[0]) + "\r\n")
                    for row in rows:
                        csv.write(",".join(str(v) for v in row.values()) + "\r\n")
                    z.writestr(f"shop/{table}.csv", csv.getvalue())
            message = EmailMessage()
            message["From"] = "privacy@localhost"
            message["To"] = customer_email(i)
            message["Subject"] = "Your data is ready to download"
            message["Message-ID"] = f"<{name}@bench>"
            message.set_content(f"Your data is ready: http://127.0.0.1/v1/downloads/{name}\n")
            with open(out / f"{name}.eml", "wb") as handle:
                handle.write(bytes(message))
                handle.flush()
                os.fsync(handle.fileno())
            timings.append(time.perf_counter() - started)
    return timings


def floor_erase(url: str, indexes: Iterable[int]) -> list[float]:
    """The bare work of an erasure: find the customer, delete their orders and them in one transaction."""
    timings: list[float] = []
    with psycopg.connect(sync_url(url)) as conn:
        for i in indexes:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    f"SELECT id FROM {SCHEMA}.customers WHERE lower(email) = %s", (customer_email(i),)
                )
                row = cur.fetchone()
                assert row is not None
                cur.execute(f"DELETE FROM {SCHEMA}.orders WHERE customer_id = %s", (row[0],))
                cur.execute(f"DELETE FROM {SCHEMA}.customers WHERE id = %s", (row[0],))
            timings.append(time.perf_counter() - started)
    return timings


# ---------------------------------------------------------------- the service


class Api:
    def __init__(self, port: int, app_key: str, operator_key: str) -> None:
        self.port = port
        self.app_key = app_key
        self.operator_key = operator_key

    def submit_raw(self, http: RawHttp, kind: str, address: str) -> bytes:
        body = json.dumps({"type": kind, "email": address}).encode()
        headers = {"Authorization": f"Bearer {self.app_key}", "Content-Type": "application/json"}
        return http.build("POST", "/v1/privacy-requests", headers=headers, body=body)


async def burst(api: Api, mailbox: Mailbox, indexes: list[int]) -> tuple[float, float, list[float]]:
    """POST an access request for each customer from CLIENTS clients; (seconds to the last data-ready email,
    seconds of the POSTs, seconds from each POST to its email)."""
    queue = list(indexes)
    posted: dict[str, float] = {}

    async def client() -> None:
        http = RawHttp(api.port)
        try:
            while queue:
                i = queue.pop(0)
                raw = api.submit_raw(http, "access", customer_email(i))
                posted[customer_email(i)] = time.perf_counter()
                status, body = await http.send(raw)
                assert status == 201, body[:300]
        finally:
            await http.close()

    mailbox.clear()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    posts_done = time.perf_counter() - started
    waits: list[float] = []
    last = started
    for i in indexes:
        _link, seen = await mailbox.wait_link(customer_email(i), "/v1/downloads/", within=300, every=0.01)
        waits.append(seen - posted[customer_email(i)])
        last = max(last, seen)
    return last - started, posts_done, waits


async def access_one_at_a_time(api: Api, mailbox: Mailbox, indexes: list[int]) -> list[float]:
    """POST, wait for the data-ready email, download the package by its link: seconds for each."""
    timings: list[float] = []
    http = RawHttp(api.port)
    # The package is streamed (chunked): httpx reads it.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.port}", timeout=60) as downloads:
        try:
            for i in indexes:
                address = customer_email(i)
                started = time.perf_counter()
                status, body = await http.send(api.submit_raw(http, "access", address))
                assert status == 201, body[:300]
                link, _seen = await mailbox.wait_link(address, "/v1/downloads/")
                package = await downloads.get(link)
                assert package.status_code == 200, package.text[:300]
                assert package.content[:2] == b"PK"
                timings.append(time.perf_counter() - started)
        finally:
            await http.close()
    return timings


async def deletion_one_at_a_time(
    api: Api, mailbox: Mailbox, indexes: list[int], *, url: str, through_api: bool = False
) -> list[float]:
    """Submit a deletion, take the confirmation link from its email; time the confirmation POST to the request
    being `processed`, seen in the database (polled every 2 ms). ``through_api``: polled with GETs on the API
    instead, as rounds before the fourth did (500 GETs a second are load of their own, which `serve`'s worker
    now lets go first)."""
    timings: list[float] = []
    http = RawHttp(api.port)
    operator = {"Authorization": f"Bearer {api.operator_key}"}
    try:
        with psycopg.connect(sync_url(url), autocommit=True) as db:
            for i in indexes:
                address = customer_email(i)
                status, body = await http.send(api.submit_raw(http, "deletion", address))
                assert status == 201, body[:300]
                request_id = json.loads(body)["id"]
                link, _seen = await mailbox.wait_link(address, "/v1/verify")
                token = link.split("token=", 1)[1]
                confirm = json.dumps({"token": token}).encode()
                poll = http.build("GET", f"/v1/privacy-requests/{request_id}", headers=operator)
                started = time.perf_counter()
                status, body = await http.request(
                    "POST", "/v1/verify", headers={"Content-Type": "application/json"}, body=confirm
                )
                assert status == 200, body[:300]
                while True:
                    if through_api:
                        status, body = await http.send(poll)
                        state = json.loads(body)["status"]
                    else:
                        row = db.execute(
                            "SELECT status FROM privacy_requests WHERE id = %s", (request_id,)
                        ).fetchone()
                        state = row[0] if row else "missing"
                    if state == "processed":
                        break
                    assert state == "in_progress", state
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"deletion {request_id} not processed within 60 s")
                    await asyncio.sleep(0.002)
                timings.append(time.perf_counter() - started)
    finally:
        await http.close()
    return timings


async def posts_one_at_a_time(api: Api, count: int, run: str) -> list[float]:
    """Access requests for unknown addresses, one after another: seconds per POST."""
    timings: list[float] = []
    http = RawHttp(api.port)
    try:
        for n in range(count):
            raw = api.submit_raw(http, "access", f"{run}-{n}@elsewhere.example")
            started = time.perf_counter()
            status, body = await http.send(raw)
            timings.append(time.perf_counter() - started)
            assert status == 201, body[:300]
    finally:
        await http.close()
    return timings


def open_jobs(url: str) -> int:
    with psycopg.connect(sync_url(url), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()
    return int(row[0]) if row else 0


def wait_idle(url: str, *, within: float = 300) -> None:
    """Until the worker has no open job (bounded)."""
    deadline = time.monotonic() + within
    while open_jobs(url) and time.monotonic() < deadline:
        time.sleep(0.2)


def family(pid: int) -> list[int]:
    """A process and its descendants (should serve start any, their CPU and memory count too)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            out += family(int(child))
    return out


def family_cpu(pid: int) -> dict[int, float]:
    return {p: cpu_seconds(p) for p in family(pid)}


def cpu_since(before: dict[int, float], pid: int) -> tuple[float, float]:
    """CPU seconds used since ``before`` by (the process itself, its descendants)."""
    now = family_cpu(pid)
    own = now[pid] - before.get(pid, 0.0)
    rest = sum(v - before.get(p, 0.0) for p, v in now.items() if p != pid)
    return own, rest


def pss_mib(pid: int) -> float:
    """Proportional set size now: pages shared between processes (libraries) counted once across them."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ---------------------------------------------------------------- the worker in a process of its own


@dataclass
class Split:
    rate: float
    cpu_ms: float
    busy_ms: float
    backlog: tuple[int, int]
    alone_ms: float


@contextlib.contextmanager
def started(args: list[str], *, env: dict[str, str], log: Path) -> Iterator[Process]:
    """A process for the length of the block, stopped (SIGTERM, then killed) however the block ends."""
    process = start(args, env=env, log=log, name=Path(args[-1]).name)
    try:
        yield process
    finally:
        process.stop()


def split_processes(*, url: str, env: dict[str, str], api_keys: tuple[str, str], work: Path) -> Split:
    """The same burst and busy POSTs with `serve --no-worker` and one `python -m app worker` process (woken by
    PostgreSQL NOTIFY), the deployment the README recommends on PostgreSQL: API and worker each on its own
    core and event loop. First, before the worker starts, POSTs with no worker running anywhere: what one
    costs alone, the floor under the busy-POST goal."""
    section("auto: the same with the worker in a process of its own (serve --no-worker + worker)")
    port = free_port()
    mailbox = Mailbox(Path(env["MAIL_DIR"]))
    with serving(env, port=port, log=work / "logs" / "auto-split-serve.log", with_worker=False) as server:
        api = Api(port, *api_keys)
        asyncio.run(posts_one_at_a_time(api, 20, "split-warm"))
        alone = statistics.median(asyncio.run(posts_one_at_a_time(api, 100, "split-alone")))
        print(f"POST one at a time with no worker running: median {ms(alone)}")
        with started(
            [PYTHON, "-m", "app", "worker"], env=env, log=work / "logs" / "auto-split-worker.log"
        ) as worker:
            wait_idle(url)
            mailbox.clear()
            return _split_runs(url=url, api=api, mailbox=mailbox, processes=(server, worker), alone=alone)


def _split_runs(
    *, url: str, api: Api, mailbox: Mailbox, processes: tuple[Process, Process], alone: float
) -> Split:
    server, worker = processes
    asyncio.run(access_one_at_a_time(api, mailbox, list(range(993, 996))))
    wait_idle(url)
    before = cpu_seconds(server.pid) + cpu_seconds(worker.pid)
    total, _posts, _waits = asyncio.run(burst(api, mailbox, list(range(400, 400 + BURST))))
    cpu_ms = (cpu_seconds(server.pid) + cpu_seconds(worker.pid) - before) / BURST * 1000
    rate = BURST / total
    print(
        f"burst: {BURST} access requests, the last data-ready email after {total:.2f} s: {rate:.1f} "
        f"completed/s; CPU per request (serve + worker) {cpu_ms:.1f} ms"
    )
    wait_idle(url)
    mailbox.clear()
    run_loadgen(
        [
            f"--port={api.port}",
            f"--key={api.app_key}",
            f"--concurrency={CLIENTS}",
            "--seconds=3",
            "--warmup=0",
        ],
        timeout=120,
    )
    backlog_before = open_jobs(url)
    busy = statistics.median(asyncio.run(posts_one_at_a_time(api, 50, "split-busy")))
    backlog_after = open_jobs(url)
    print(
        f"POST one at a time while the worker process works through its backlog ({backlog_before} -> "
        f"{backlog_after} open jobs): median {ms(busy)}"
    )
    wait_idle(url)
    mailbox.clear()
    return Split(
        rate=rate,
        cpu_ms=cpu_ms,
        busy_ms=busy * 1000,
        backlog=(backlog_before, backlog_after),
        alone_ms=alone * 1000,
    )


# ---------------------------------------------------------------- the run


def run(
    *, url: str, ws: Workspace, work: Path, results: Path, quick: bool, shared: dict[str, Any]
) -> list[Row]:
    one_by_one = 10 if quick else 30
    load_seconds, load_warmup = (3.0, 1.0) if quick else (10.0, 2.0)
    section(
        f"auto: many small requests ({CUSTOMERS:,} customers with integer ids x {ORDERS_PER_CUSTOMER} orders in "
        "PostgreSQL, serve + embedded worker, AUTO_ACCEPT_ACCESS, file mailbox)"
    )
    truncate(url)
    build_shop(url)
    psycopg_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://", 1)
    sources = write_sources(work / "auto" / "sources.yaml", psycopg_url)
    mail_dir = work / "auto" / "mail"
    env = app_env(
        ws,
        url,
        SOURCES_FILE=str(sources),
        MAIL_DIR=str(mail_dir),
        PACKAGE_DIR=str(work / "auto" / "packages"),
        AUTO_ACCEPT_ACCESS="true",
    )
    api_keys = (
        create_api_key(env, role="app", name="bench-auto-app"),
        create_api_key(env, role="operator", name="bench-auto-operator"),
    )

    # The floor first, on an idle machine, on the same 200 customers the service will answer.
    burst_customers = list(range(BURST))
    cpu_before = time.process_time()
    floor_times = floor_access(url, burst_customers, work / "auto" / "floor")
    floor_cpu = (time.process_time() - cpu_before) / len(floor_times)
    floor_rate = len(floor_times) / sum(floor_times)
    print(
        f"floor (bare script: select, zip, email file): {floor_rate:.0f} customers/s, "
        f"median {ms(statistics.median(floor_times))} per customer, CPU {ms(floor_cpu)} per customer"
    )
    erase_floor = floor_erase(url, range(900, 900 + one_by_one))
    print(f"floor (bare erase in one transaction): median {ms(statistics.median(erase_floor))}")

    port = free_port()
    mailbox = Mailbox(mail_dir)
    with serving(env, port=port, log=work / "logs" / "auto-serve.log", with_worker=True) as server:
        api = Api(port, *api_keys)
        # Warm up the process (imports, pools, the source's column types) with a few requests.
        asyncio.run(access_one_at_a_time(api, mailbox, list(range(990, 993))))
        idle_posts = asyncio.run(posts_one_at_a_time(api, 50, "idle"))
        wait_idle(url)

        serve_before = family_cpu(server.pid)
        total, posts, waits = asyncio.run(burst(api, mailbox, burst_customers))
        own_cpu, children_cpu = (seconds / BURST for seconds in cpu_since(serve_before, server.pid))
        burst_cpu = own_cpu + children_cpu
        rate = BURST / total
        split = f" (serve {ms(own_cpu)}, its child processes {ms(children_cpu)})" if children_cpu else ""
        print(f"serve CPU per completed access request: {ms(burst_cpu)}{split}; the floor's: {ms(floor_cpu)}")
        print(
            f"burst: {BURST} access requests POSTed by {CLIENTS} clients in {posts:.2f} s; the last data-ready "
            f"email after {total:.2f} s: {rate:.1f} completed/s (POST -> email median {ms(statistics.median(waits))}, "
            f"p95 {ms(percentile(waits, 95))})"
        )
        wait_idle(url)

        access = asyncio.run(access_one_at_a_time(api, mailbox, list(range(BURST, BURST + one_by_one))))
        print(
            f"access one at a time, POST -> downloaded: median {ms(statistics.median(access))}, p95 {ms(percentile(access, 95))}"
        )
        wait_idle(url)

        deletions = asyncio.run(
            deletion_one_at_a_time(api, mailbox, list(range(300, 300 + one_by_one)), url=url)
        )
        print(
            f"deletion one at a time, confirm -> processed (seen in the database): median "
            f"{ms(statistics.median(deletions))}, p95 {ms(percentile(deletions, 95))}"
        )
        wait_idle(url)
        polled = asyncio.run(
            deletion_one_at_a_time(
                api, mailbox, list(range(350, 350 + one_by_one)), url=url, through_api=True
            )
        )
        print(
            f"the same, seen by polling the API every 2 ms: median {ms(statistics.median(polled))}, "
            f"p95 {ms(percentile(polled, 95))}"
        )
        wait_idle(url)
        mailbox.clear()

        load = run_loadgen(
            [
                f"--port={port}",
                f"--key={api.app_key}",
                f"--concurrency={CLIENTS}",
                f"--seconds={load_seconds}",
                f"--warmup={load_warmup}",
            ],
            timeout=load_seconds + load_warmup + 120,
        )
        print(
            f"POST from {CLIENTS} clients (access auto-accepted, deletions alternating): {load['rps']:.0f} req/s, "
            f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, statuses {load['statuses']}"
        )
        backlog_before = open_jobs(url)
        busy_posts = asyncio.run(posts_one_at_a_time(api, 50, "busy"))
        backlog_after = open_jobs(url)
        print(
            f"POST one at a time while the worker works through its backlog ({backlog_before} -> {backlog_after} "
            f"open jobs): median {ms(statistics.median(busy_posts))}; with no backlog "
            f"{ms(statistics.median(idle_posts))}"
        )
        wait_idle(url)
        mailbox.clear()
        processes = family(server.pid)
        peaks = [vm_hwm_mib(p) for p in processes]
        pss = sum(pss_mib(p) for p in processes)
    hwm = sum(peaks)
    print(
        f"serve peak RSS {hwm:.0f} MiB ({' + '.join(f'{p:.0f}' for p in peaks)} MiB per process); "
        f"PSS at the end {pss:.0f} MiB"
    )
    own_process = split_processes(url=url, env=env, api_keys=api_keys, work=work)

    floor_one = statistics.median(floor_times)
    ratio = rate / floor_rate
    busy = statistics.median(busy_posts)
    return [
        Row(
            f"auto: completed access requests/s ({BURST}, POST -> data-ready email)",
            f"{rate:.1f}/s",
            f"floor {floor_rate:.0f}/s (bare select+zip+email file)",
            f"{ratio:.2f}x",
            f">= {FLOOR_RATIO_GOAL}x floor, >= {RATE_GOAL:.0f}/s",
            ratio >= FLOOR_RATIO_GOAL and rate >= RATE_GOAL,
        ),
        Row(
            "auto: serve CPU per completed access request",
            ms(burst_cpu) + split,
            f"floor {ms(floor_cpu)} (script CPU, no service)",
            fmt_ratio(burst_cpu, floor_cpu),
        ),
        Row(
            f"auto: access POST -> downloaded, median of {len(access)} one at a time",
            ms(statistics.median(access)),
            f"floor {ms(floor_one)} per customer",
            fmt_ratio(statistics.median(access), floor_one),
            f"< {ACCESS_GOAL_MS:.0f} ms",
            statistics.median(access) * 1000 < ACCESS_GOAL_MS,
        ),
        Row(
            f"auto: deletion confirm -> processed, median of {len(deletions)} (polled through the API: "
            f"{ms(statistics.median(polled))})",
            ms(statistics.median(deletions)),
            f"bare erase {ms(statistics.median(erase_floor))}",
            fmt_ratio(statistics.median(deletions), statistics.median(erase_floor)),
            f"< {DELETION_GOAL_MS:.0f} ms",
            statistics.median(deletions) * 1000 < DELETION_GOAL_MS,
        ),
        Row(
            f"auto: POST from {CLIENTS} clients (auto-accept)",
            f"{load['rps']:.0f} req/s, p50 {load['p50_ms']:.0f} ms",
            "-",
            "-",
            f">= {POST_RATE_GOAL:.0f} req/s",
            load["rps"] >= POST_RATE_GOAL,
        ),
        Row(
            "auto: POST one at a time while the worker is busy, median",
            ms(busy),
            f"no backlog {ms(statistics.median(idle_posts))}",
            fmt_ratio(busy, statistics.median(idle_posts)),
            f"< {BUSY_POST_GOAL_MS:.0f} ms",
            busy * 1000 < BUSY_POST_GOAL_MS,
        ),
        Row(
            f"auto: completed/s, worker in its own process ({BURST}, serve --no-worker + worker)",
            f"{own_process.rate:.1f}/s",
            f"embedded worker {rate:.1f}/s",
            fmt_ratio(own_process.rate, rate),
            f">= {RATE_GOAL:.0f}/s",
            own_process.rate >= RATE_GOAL,
        ),
        Row(
            "auto: POST one at a time while the worker process is busy, median",
            f"{own_process.busy_ms:.1f} ms",
            f"embedded worker {ms(busy)}",
            fmt_ratio(own_process.busy_ms, busy * 1000),
            f"< {BUSY_POST_GOAL_MS:.0f} ms",
            own_process.busy_ms < BUSY_POST_GOAL_MS,
        ),
        Row(
            "auto: POST one at a time with no worker running, median (what a POST costs alone)",
            f"{own_process.alone_ms:.1f} ms",
            f"busy, worker apart {own_process.busy_ms:.1f} ms",
            fmt_ratio(own_process.alone_ms, own_process.busy_ms),
            "-",
        ),
        Row(
            "auto: serve (API + worker) peak RSS",
            f"{hwm:.0f} MiB" + (f" ({' + '.join(f'{p:.0f}' for p in peaks)})" if len(peaks) > 1 else ""),
            f"PSS at the end {pss:.0f} MiB",
            "-",
            f"< {MEMORY_GOAL_MB:.0f} MB",
            hwm * 2**20 < MEMORY_GOAL_MB * 10**6,
        ),
    ]


if __name__ == "__main__":
    import argparse
    import tempfile

    from common import database_url, ensure_database, reset_schema

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    database = database_url()
    ensure_database(database)
    reset_schema(database)
    with tempfile.TemporaryDirectory(prefix="privacy-bench-") as directory:
        folder = Path(directory)
        workspace = Workspace(folder / "ws", customers=10, orders_per_customer=1)
        workspace.build()
        for row in run(
            url=database, ws=workspace, work=folder, results=Path("."), quick=arguments.quick, shared={}
        ):
            print(row)
