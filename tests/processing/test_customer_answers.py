"""What the customer is told when their request cannot be answered with data (contract section 8): a source
refusing an erasure (the reason and their rights, once per refusal), an access request for which no source
holds anything (no package, no link); and a retry keeps the earlier failure on the timeline."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.core.config import Settings
from app.models import Download

from ..conftest import TEAM, bearer
from ..helpers import detail, submit
from ..requests.outbox import sent
from ..sources.http_source import HttpSourceServer
from .world import accept, confirmed_deletion, emails_to, snapshot_rows, work

HOLD = "Open dispute until 2026-03-31"


async def _downloads(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Download)) or 0)


async def test_a_refused_erasure_tells_the_customer_why_once_per_refusal_and_retries_keep_each_failure(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    world: Path,
    remote: HttpSourceServer,
) -> None:
    before = snapshot_rows(world)
    remote.refusals["cus_1"] = [
        {"code": "legal_hold", "message": HOLD},
        {"code": "contract", "message": "An open order must be delivered first"},
    ]
    remote.fail_next = 1  # the first dry run meets an outage: the job is retried, nobody is told anything
    remote.fail_status = 503
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")

    await work(app)

    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "failed"
    assert snapshot_rows(world) == before
    dry_runs = [query for method, _, query, _ in remote.calls if method == "DELETE"]
    assert dry_runs == ["dry_run=true", "dry_run=true"]  # the outage, then the refusal
    [refused] = await sent(app, kind="deletion_refused")
    assert refused.to == "ada@example.com"
    assert HOLD in refused.text
    assert "An open order must be delivered first" in refused.text
    assert "loyalty" not in refused.text  # the source's words, not its internal name
    [alert] = emails_to(settings.mail_dir, TEAM, "failed")  # the team is alerted as before
    assert HOLD in alert
    first_failure = next(e for e in view["events"] if e["action"] == "failed")
    assert HOLD in first_failure["detail"]

    # The operator retries while the hold still stands: a second refusal, and a second answer to the customer.
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)
    assert (await detail(client, keys["operator"], request_id))["status"] == "failed"
    assert len(await sent(app, kind="deletion_refused")) == 2

    # The hold is lifted: the retry erases, and both failures stay on the timeline with their reasons.
    remote.refusals.clear()
    await accept(client, keys["operator"], request_id, "automatic")
    await work(app)
    view = await detail(client, keys["operator"], request_id)
    assert view["status"] == "processed"
    assert [e["action"] for e in view["events"] if e["action"] in ("failed", "retried", "erased")] == [
        "failed",
        "retried",
        "failed",
        "retried",
        "erased",
    ]
    assert all(HOLD in e["detail"] for e in view["events"] if e["action"] == "failed")
    assert len(await sent(app, kind="deletion_refused")) == 2
    [completed] = await sent(app, kind="deletion_completed")
    assert completed.to == "ada@example.com"


async def test_a_transient_failure_alone_sends_the_customer_nothing(
    client: httpx.AsyncClient,
    keys: dict[str, str],
    app: FastAPI,
    settings: Settings,
    remote: HttpSourceServer,
) -> None:
    remote.fail_next = 1
    remote.fail_status = 503
    request_id = await confirmed_deletion(client, keys, settings.mail_dir, app, email="ada@example.com")
    await work(app)
    assert (await detail(client, keys["operator"], request_id))["status"] == "processed"
    assert sorted(e.kind for e in await sent(app, to="ada@example.com")) == [
        "deletion_completed",
        "deletion_confirmation",
    ]


async def test_an_access_request_nobody_holds_data_about_gets_no_package_and_is_told_so(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, settings: Settings
) -> None:
    request = await submit(client, keys["app"], type="access", email="nobody@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)

    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    assert view["events"][-1] == {
        **view["events"][-1],
        "action": "processed",
        "actor": "system",
        "detail": "no data about the person was found in any source; no package was built",
    }
    assert await _downloads(app) == 0
    assert not settings.package_dir.exists() or not any(settings.package_dir.iterdir())
    told = await sent(app, to="nobody@example.com")
    assert sorted(email.kind for email in told) == ["access_acknowledged", "access_no_data"]
    [no_data] = [email for email in told if email.kind == "access_no_data"]
    assert no_data.text  # delivered
    assert "/v1/downloads/" not in no_data.text


async def test_a_manual_fulfilment_with_a_link_for_nobody_sends_no_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI
) -> None:
    request = await submit(client, keys["app"], type="access", email="nobody@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": True},
        headers=bearer(keys["operator"]),
    )
    assert fulfilled.status_code == 200, fulfilled.text
    await work(app)

    view = await detail(client, keys["operator"], request["id"])
    assert view["status"] == "processed"
    assert [(e["action"], e["detail"]) for e in view["events"][-2:]] == [
        ("fulfilled", "download link to be emailed"),
        ("no_data_found", "no data about the person was found in any source; no package was built"),
    ]
    assert await _downloads(app) == 0
    assert sorted(email.kind for email in await sent(app, to="nobody@example.com")) == [
        "access_acknowledged",
        "access_no_data",
    ]


async def test_someone_only_the_last_source_knows_still_gets_the_link(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, world: Path
) -> None:
    """Zoe is no customer; only the support desk's newsletter list holds her address: a package and a link."""
    with sqlite3.connect(world / "support.db") as connection:
        connection.execute("INSERT INTO newsletter VALUES (3, 'zoe@example.com', 'monthly')")
    request = await submit(client, keys["app"], type="access", email="zoe@example.com")
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    assert await _downloads(app) == 1
    assert sorted(e.kind for e in await sent(app, to="zoe@example.com")) == [
        "access_acknowledged",
        "data_ready",
    ]
