"""The world the processing and download tests run in: the shared SQLite CRM (tests/factories.py), a SQLite
support desk with every erase strategy, and a real HTTP loyalty source; plus helpers to drive the worker.

Customers: cus_1 Ada (ada@example.com), cus_2 Grace, cus_3 Alan.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.models import Job
from app.requests import repository

from ..factories import write_crm
from ..helpers import accept as accept  # re-exported: the processing tests take it from here
from ..helpers import detail, mailbox, submit, text_of

LOYALTY_TOKEN = "Bearer loyalty-secret-7f3a9c"
OTHERS = ["cus_2", "cus_3", "grace@example.com", "alan@example.com", "Grace", "Hopper", "Alan", "Turing"]
LINK = re.compile(r"http://privacy\.brand\.test(/v1/\S+)")


def build_support(path: Path) -> None:
    """tickets (anonymised: null, redact, hash), ticket_notes (kept), newsletter (deleted, matched by email)."""
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE tickets (id INTEGER PRIMARY KEY, customer_id TEXT, email TEXT, customer_name TEXT,
                body TEXT, subject TEXT);
            CREATE TABLE ticket_notes (id INTEGER PRIMARY KEY, ticket_id INTEGER, note TEXT);
            CREATE TABLE newsletter (id INTEGER PRIMARY KEY, email TEXT, list TEXT);
            """
        )
        connection.executemany(
            "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)",
            [
                (1, "cus_1", "Ada@Example.com", "Ada Lovelace", "My engine is late", "Delivery"),
                (2, None, "ada@example.com", "Ada L.", "Please call me", "Callback"),
                (3, "cus_2", "grace@example.com", "Grace Hopper", "Found a bug", "Bug"),
            ],
        )
        connection.executemany(
            "INSERT INTO ticket_notes VALUES (?, ?, ?)",
            [(10, 1, "refund issued"), (11, 2, "called back"), (30, 3, "forwarded")],
        )
        connection.executemany(
            "INSERT INTO newsletter VALUES (?, ?, ?)",
            [(1, "ADA@example.com", "weekly"), (2, "grace@example.com", "weekly")],
        )


def support_yaml(database: Path) -> str:
    return f"""\
  - name: support
    type: sql
    url: sqlite:///{database}
    entities:
      - name: tickets
        table: tickets
        match: {{customer_id: customer_id, email: email}}
        erase: {{anonymize: {{customer_name: null, body: redact, email: hash}}}}
        purpose: Answering your support requests
        categories: [correspondence]
        retention: Ticket statistics are kept anonymised
      - name: ticket_notes
        table: ticket_notes
        match: {{ticket_id: tickets.id}}
        erase: keep
        retention: Notes are kept 3 years for warranty claims
      - name: newsletter
        table: newsletter
        match: {{email: email}}
        erase: delete
        purpose: Sending the newsletter you subscribed to
"""


def loyalty_yaml(url: str, *, timeout: str = "PT2S") -> str:
    return f"""\
  - name: loyalty
    type: http
    url: {url}/gdpr/customers/{{customer_id}}
    headers_env: {{Authorization: LOYALTY_AUTH}}
    timeout: {timeout}
    attempts: 2
    backoff: PT0.01S
    entities:
      - name: points
        purpose: Loyalty programme
        recipients: [loyalty partner]
"""


def write_world(
    directory: Path, *, loyalty_url: str | None = None, loyalty_timeout: str = "PT2S", extra: str = ""
) -> Path:
    """The CRM, the support desk and (with ``loyalty_url``) the remote loyalty source; the yaml's path."""
    directory.mkdir(parents=True, exist_ok=True)
    support = directory / "support.db"
    build_support(support)
    text = support_yaml(support)
    if loyalty_url is not None:
        text += loyalty_yaml(loyalty_url, timeout=loyalty_timeout)
    return write_crm(directory, extra_sources=text + extra)


def snapshot_rows(world: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the world's SQLite tables, to compare before and after."""
    crm, support = world / "crm.db", world / "support.db"
    return {
        "customers": rows(crm, "SELECT * FROM customers ORDER BY id"),
        "orders": rows(crm, "SELECT * FROM orders ORDER BY id"),
        "tickets": rows(support, "SELECT * FROM tickets ORDER BY id"),
        "ticket_notes": rows(support, "SELECT * FROM ticket_notes ORDER BY id"),
        "newsletter": rows(support, "SELECT * FROM newsletter ORDER BY id"),
    }


def rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        return [tuple(row) for row in connection.execute(query)]


async def open_jobs(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
        )
    return int(count or 0)


async def work(app: FastAPI, *, within: float = 30.0) -> None:
    """Run the worker until no job is queued or running (retries wait their short backoff in real time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        await app.state.worker.run_until_idle()
        if await open_jobs(app) == 0:
            return
        assert loop.time() < deadline, f"jobs still open after {within} s"
        await asyncio.sleep(0.02)


async def status_of(app: FastAPI, request_id: str) -> str:
    import uuid

    async with app.state.sessionmaker() as session:
        request = await repository.get(session, uuid.UUID(request_id))
    assert request is not None
    return request.status


def emails_to(mail_dir: Path, address: str, subject_has: str = "") -> list[str]:
    """Plain-text bodies of the emails to ``address`` whose subject contains ``subject_has``."""
    return [
        text_of(message)
        for message in mailbox(mail_dir)
        if message["To"] == address and subject_has in str(message["Subject"])
    ]


def link_in(text: str, prefix: str) -> str:
    """The path of the first link in an email starting with ``prefix`` (e.g. /v1/downloads/)."""
    for match in LINK.finditer(text):
        if match.group(1).startswith(prefix):
            return match.group(1)
    raise AssertionError(f"no {prefix} link in:\n{text}")


async def confirmed_deletion(
    client: httpx.AsyncClient, keys: dict[str, str], mail_dir: Path, app: FastAPI, *, email: str
) -> str:
    """Submit a deletion, follow the confirmation email's link and confirm; the request id (in_progress)."""
    request = await submit(client, keys["app"], type="deletion", email=email)
    await app.state.worker.run_until_idle()
    [confirmation] = emails_to(mail_dir, email, "Confirm the deletion")
    token = link_in(confirmation, "/v1/verify").split("token=", 1)[1]
    page = await client.get("/v1/verify", params={"token": token})
    assert page.status_code == 200
    confirmed = await client.post("/v1/verify", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"id": request["id"], "status": "in_progress"}
    return str(request["id"])


async def events(client: httpx.AsyncClient, key: str, request_id: str) -> list[tuple[str, str]]:
    view = await detail(client, key, request_id)
    return [(event["action"], event["actor"]) for event in view["events"]]
