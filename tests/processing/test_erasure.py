"""Deletion through the API and the worker: confirm, dry run everywhere, erase SQL + HTTP, report, email;
a refusing source stops everything; a failed erasure is retried safely."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.core import clock
from app.core.config import Settings

from ..conftest import TEAM, sync_pg_url
from ..helpers import HASHED, detail, submit
from ..jobs.support import statements_sent
from ..sources.http_source import HttpSourceServer
from .world import accept, confirmed_deletion, emails_to, events, link_in, snapshot_rows, work

# What customers read about each entity rides along: its title (the entity's name when none is configured),
# the retention basis and text, and whether rows left behind are pseudonymised (a hash or a link stays).
NOTHING_TO_SAY = {"basis": None, "retention": None, "pseudonymised": False}
EXPECTED_REPORT: dict[str, Any] = {
    "sources": {
        "crm": {
            "customers": {"action": "deleted", "count": 1, "title": "customers", **NOTHING_TO_SAY},
            "orders": {
                "action": "anonymized",
                "count": 2,
                "columns": {"shipping_address": "redact"},
                "title": "orders",
                "basis": None,
                "retention": "Invoices are kept 10 years for tax law",
                "pseudonymised": True,
            },
        },
        "support": {
            "tickets": {
                "action": "anonymized",
                "count": 2,
                "columns": {"customer_name": "null", "body": "redact", "email": "hash"},
                "title": "tickets",
                "basis": None,
                "retention": "Ticket statistics are kept anonymised",
                "pseudonymised": True,
            },
            "ticket_notes": {
                "action": "kept",
                "count": 2,
                "reason": "Notes are kept 3 years for warranty claims",
                "title": "ticket_notes",
                "basis": None,
                "retention": "Notes are kept 3 years for warranty claims",
                "pseudonymised": False,
            },
            "newsletter": {"action": "deleted", "count": 1, "title": "newsletter", **NOTHING_TO_SAY},
        },
        "loyalty": {"points": {"action": "deleted", "count": 2, "title": "points", **NOTHING_TO_SAY}},
    },
    "verified": True,
}


def assert_ada_erased(world: Path) -> None:
    assert snapshot_rows(world) == {
        "customers": [
            ("cus_2", "grace@example.com", "Grace", "Hopper"),
            ("cus_3", "alan@example.com", "Alan", "Turing"),
        ],
        "orders": [
            (1, "cus_1", 12.5, "[redacted]"),
            (2, "cus_1", 99.0, "[redacted]"),
            (3, "cus_2", 7.0, "2 Navy Rd"),
        ],
        "tickets": [
            (1, "cus_1", HASHED["Ada@Example.com"], None, "[redacted]", "Delivery"),
            (2, None, HASHED["ada@example.com"], None, "[redacted]", "Callback"),
            (3, "cus_2", "grace@example.com", "Grace Hopper", "Found a bug", "Bug"),
        ],
        "ticket_notes": [(10, 1, "refund issued"), (11, 2, "called back"), (30, 3, "forwarded")],
        "newsletter": [(2, "grace@example.com", "weekly")],
    }


async def test_confirmed_deletion_erases_sql_and_http_and_reports(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")

    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert view["processed_at"] is not None
    assert view["result"] == EXPECTED_REPORT
    assert_ada_erased(world)
    assert "cus_1" not in remote.data
    assert remote.data["cus_2"] == {"points": [{"balance": 7, "tier": "silver"}]}
    # Dry run first, then the erasure; every call carried the source's secret header.
    deletes = [query for method, _, query, _ in remote.calls if method == "DELETE"]
    assert deletes == ["dry_run=true", ""]
    assert all(headers["authorization"] == "Bearer loyalty-secret-7f3a9c" for *_, headers in remote.calls)

    done = emails_to(settings.mail_dir, "ada@example.com", "has been carried out")
    assert len(done) == 1
    text = done[0]
    erased, _, kept = text.partition("\nKept:\n")
    erased, _, pseudonymised = erased.partition("\nPseudonymised – ")
    assert "- customers: 1 record\n" in erased
    assert "- newsletter: 1 record\n" in erased
    assert "- points: 2 records\n" in erased
    assert "- orders: 2 records. Retention: Invoices are kept 10 years for tax law.\n" in pseudonymised
    assert "- tickets: 2 records. Retention: Ticket statistics are kept anonymised.\n" in pseudonymised
    assert "- ticket_notes: 2 records. Retention: Notes are kept 3 years for warranty claims.\n" in kept
    assert "law requires" not in text  # no retention basis configured: no legal claim

    timeline = await events(client, keys["operator"], request_id)
    assert [a for a, _ in timeline][:2] == ["received", "confirmed"]
    assert ("confirmed", "customer") in timeline
    erased_event = next(e for e in view["events"] if e["action"] == "erased")
    assert erased_event["actor"] == "system"
    assert erased_event["detail"] == "4 records deleted, 4 anonymised, 2 kept"

    # The customer is gone from the directory: a new request by email no longer matches anyone.
    again = await submit(client, keys["operator"], type="access", email="ada@example.com")
    assert (await detail(client, keys["operator"], again["id"]))["customer"] is None


async def test_refusing_source_fails_the_request_and_erases_nothing_then_retry_succeeds(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    before = snapshot_rows(world)
    remote.refusals["cus_1"] = [{"code": "legal_hold", "message": "Open dispute until 2026-03-31"}]
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")

    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    assert view["result"] == {"reasons": ["loyalty: Open dispute until 2026-03-31 (legal_hold)"]}
    assert view["overdue"] is False
    assert snapshot_rows(world) == before
    assert "cus_1" in remote.data
    assert [query for method, _, query, _ in remote.calls if method == "DELETE"] == ["dry_run=true"]
    [alert] = emails_to(settings.mail_dir, TEAM, "failed")
    assert "Open dispute until 2026-03-31" in alert
    assert request_id in alert
    assert emails_to(settings.mail_dir, "ada@example.com", "has been carried out") == []
    assert ("failed", "system") in await events(client, keys["operator"], request_id)

    # The hold is lifted; the operator retries.
    remote.refusals.clear()
    manual = await client.post(
        f"/v1/privacy-requests/{request_id}/accept",
        json={"handling": "manual"},
        headers={"Authorization": f"Bearer {keys['operator']}"},
    )
    assert manual.status_code == 409
    retried = await accept(client, keys["operator"], request_id, "automatic")
    assert retried["status"] == "in_progress"
    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert view["result"] == EXPECTED_REPORT
    assert_ada_erased(world)
    assert ("retried", "operator-key") in await events(client, keys["operator"], request_id)
    assert len(emails_to(settings.mail_dir, "ada@example.com", "has been carried out")) == 1


async def test_failed_erasure_halfway_is_retried_safely(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    """The support desk refuses writes (a maintenance lock) after the remote source already erased: the
    support transaction rolls back, the directory is left for the retry, and the retry completes it."""
    support = world / "support.db"
    with sqlite3.connect(support) as connection:
        connection.execute(
            "CREATE TRIGGER locked BEFORE UPDATE ON tickets BEGIN SELECT RAISE(ABORT, 'tickets are locked'); END"
        )
    before = snapshot_rows(world)
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")

    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    [reason] = view["result"]["reasons"]
    assert "support" in reason
    assert "tickets are locked" in reason
    assert snapshot_rows(world) == before  # support rolled back; the crm (the directory) goes last, untouched
    assert "cus_1" not in remote.data  # the remote source had erased already
    assert emails_to(settings.mail_dir, TEAM, "failed")

    with sqlite3.connect(support) as connection:
        connection.execute("DROP TRIGGER locked")
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert_ada_erased(world)
    report = view["result"]
    assert report["verified"] is True
    assert report["sources"]["support"] == EXPECTED_REPORT["sources"]["support"]
    assert report["sources"]["crm"] == EXPECTED_REPORT["sources"]["crm"]
    # Already erased remotely: the source answers 204 and the declared entity is reported deleted.
    assert report["sources"]["loyalty"] == {
        "points": {"action": "deleted", "title": "points", **NOTHING_TO_SAY}
    }


def _refuse_recording_erasures(database_url: str, *, on: bool) -> None:
    """The service's own database refuses (or takes again) the `erased` timeline entry: a failure after the
    sources erased and before the request's record commits, as a database going away a moment would cause."""
    if database_url.startswith("postgresql"):
        statements = (
            [
                "CREATE FUNCTION refuse_erased() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the database went away'; END $$",
                "CREATE TRIGGER refuse_erased BEFORE INSERT ON request_events FOR EACH ROW "
                "WHEN (NEW.action = 'erased') EXECUTE FUNCTION refuse_erased()",
            ]
            if on
            else ["DROP TRIGGER refuse_erased ON request_events", "DROP FUNCTION refuse_erased()"]
        )
        with psycopg.connect(sync_pg_url(database_url), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    path = make_url(database_url).database
    assert path is not None
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TRIGGER refuse_erased BEFORE INSERT ON request_events WHEN NEW.action = 'erased' "
            "BEGIN SELECT RAISE(ABORT, 'the database went away'); END"
            if on
            else "DROP TRIGGER refuse_erased"
        )


async def test_an_erasure_whose_record_failed_reports_what_it_erased_when_retried(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    _refuse_recording_erasures(settings.database_url, on=True)
    clock.freeze(clock.now())  # the retry waits for its backoff: one attempt now
    await app.state.worker.run_until_idle()

    assert_ada_erased(world)  # the sources erased ...
    assert "cus_1" not in remote.data
    view = await detail(client, keys["operator"], request_id)
    assert (view["status"], view["result"]) == ("in_progress", None)  # ... but nothing of it was recorded

    _refuse_recording_erasures(settings.database_url, on=False)
    clock.advance(timedelta(minutes=1))
    await work(app)

    # The retry finds nothing left to erase; the report, the timeline and the customer's email still say
    # what the first run removed (never "no personal data found").
    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert view["result"]["sources"]["crm"] == EXPECTED_REPORT["sources"]["crm"]
    assert view["result"]["sources"]["support"] == EXPECTED_REPORT["sources"]["support"]
    assert view["result"]["sources"]["loyalty"]["points"]["count"] == 2
    [erased] = [e for e in view["events"] if e["action"] == "erased"]
    assert erased["detail"] == "4 records deleted, 4 anonymised, 2 kept"
    [done] = emails_to(settings.mail_dir, "ada@example.com", "has been carried out")
    assert "- customers: 1 record\n" in done
    assert "- points: 2 records\n" in done
    assert "We found no personal data about you to erase." not in done


async def test_the_requests_of_a_rounds_erasures_are_read_in_one_statement(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    addresses = ("ada@example.com", "grace@example.com")
    ids = [(await submit(client, keys["app"], type="deletion", email=address))["id"] for address in addresses]
    await work(app)  # the confirmation emails
    for address in addresses:
        [confirmation] = emails_to(settings.mail_dir, address, "Confirm the deletion")
        token = link_in(confirmation, "/v1/verify").split("token=", 1)[1]
        assert (await client.post("/v1/verify", json={"token": token})).status_code == 200
    worker = app.state.worker
    worker.concurrency = 2
    with statements_sent(app.state.engine) as sent:
        assert await worker.run_once() == 2

    # Each erasure also locks its own row in its transaction (SELECT ... FOR UPDATE): not a read.
    reads = [s.sql for s in sent if s.reads("privacy_requests")]
    assert len(reads) == 1, reads  # the round's two requests in one statement, not one each
    for request_id in ids:
        assert (await detail(client, keys["operator"], request_id))["status"] == "processed"
    for address in addresses:
        assert len(emails_to(settings.mail_dir, address, "has been carried out")) == 1
