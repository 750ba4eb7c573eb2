"""Manual steps end to end (contract section 10): a manual source's owner is emailed a task (read back from a
real SMTP server), the request waits in ``in_progress`` until a person marks it done through the API, and the
customer is told once, after the automatic part AND every task are done, whichever finishes last."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from babel.dates import format_date
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings
from app.core.i18n import local_time
from app.wiring import HOUSEKEEPING_STEPS
from app.worker.sweep import run_sweep

from ..conftest import bearer, client_of, role_keys, running_app
from ..helpers import accept, detail, submit, text_of
from ..notifications.smtp_server import SmtpServer
from ..processing.world import status_of, work
from .conftest import OWNER

DATA_READY = "Your data is ready to download"
DELETION_DONE = "Your deletion request has been carried out"
NOTE = "Folder 4711 shredded;\nthe index card too."


def plain(message: EmailMessage) -> str:
    """The plain-text part as a mail program shows it (lines travel with CRLF)."""
    return text_of(message).replace("\r\n", "\n")


def to(smtp_server: SmtpServer, address: str, subject_has: str = "") -> list[EmailMessage]:
    return [m for m in smtp_server.messages if m["To"] == address and subject_has in str(m["Subject"])]


async def tasks(client: httpx.AsyncClient, key: str, request_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/privacy-requests/{request_id}/tasks", headers=bearer(key))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def done(
    client: httpx.AsyncClient, key: str, request_id: str, task_id: str, note: Any = NOTE
) -> httpx.Response:
    return await client.post(
        f"/v1/privacy-requests/{request_id}/tasks/{task_id}/done", json={"note": note}, headers=bearer(key)
    )


async def confirm_deletion(
    client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI, smtp_server: SmtpServer, email: str
) -> str:
    """Submit a deletion and confirm it with the emailed link, as the customer does; its id (in_progress)."""
    request = await submit(client, keys["app"], type="deletion", email=email)
    await app.state.worker.run_until_idle()
    [confirmation] = to(smtp_server, email, "Confirm the deletion")
    token = re.search(r"/v1/verify\?token=([A-Za-z0-9_-]+)", plain(confirmation))
    assert token is not None
    confirmed = await client.post("/v1/verify", json={"token": token.group(1)})
    assert confirmed.json() == {"id": request["id"], "status": "in_progress"}
    return str(request["id"])


def owner_task_email(smtp_server: SmtpServer, request_id: str) -> tuple[str, str]:
    """The one task email the archive's owner got about the request: subject and plain text."""
    [message] = [m for m in to(smtp_server, OWNER) if request_id in str(m["Subject"])]
    return str(message["Subject"]), plain(message)


async def test_access_request_waits_for_the_manual_step_then_the_package_is_sent(
    app: FastAPI,
    client: httpx.AsyncClient,
    keys: dict[str, str],
    smtp_server: SmtpServer,
    settings: Settings,
) -> None:
    request = await submit(client, keys["app"], type="access", email="ada@example.com")
    request_id = request["id"]
    assert (await accept(client, keys["operator"], request_id, "automatic"))["status"] == "in_progress"
    await work(app)

    # The owner reads, in their language (German), what to do, for whom, by when, and where to mark it done.
    subject, text = owner_task_email(smtp_server, request_id)
    assert subject == f"Manueller Schritt in paper_archive für Auskunftsersuchen {request_id}"
    assert "Die Akte der Kundin oder des Kunden im Kellerarchiv heraussuchen und vernichten." in text
    assert "Kundennummer: cus_1" in text
    assert "Name: Ada Lovelace" in text
    assert "Hinterlegte E-Mail-Adresse: ada@example.com" in text
    due = local_time(datetime.fromisoformat(request["due_at"]), settings.timezone)
    assert f"Der Antrag muss bis {format_date(due, format='long', locale='de')}, " in text
    assert f"http://privacy.brand.test/cockpit/requests/{request_id}" in text

    # Nothing is sent to the customer, the request stays in progress, the task is open everywhere it is shown.
    assert to(smtp_server, "ada@example.com", DATA_READY) == []
    assert await status_of(app, request_id) == "in_progress"
    [task] = await tasks(client, keys["operator"], request_id)
    assert task["source"] == "paper_archive"
    assert task["owner_email"] == OWNER
    assert task["status"] == "open"
    view = await detail(client, keys["operator"], request_id)
    assert [t["id"] for t in view["tasks"]] == [task["id"]]
    stats = (await client.get("/v1/stats", headers=bearer(keys["operator"]))).json()
    assert stats["open_manual_tasks"] == 1

    marked = await done(client, keys["operator"], request_id, task["id"])
    assert marked.status_code == 200, marked.text
    body = marked.json()
    assert (body["status"], body["done_by"], body["note"]) == ("done", "operator-key", NOTE)
    assert body["done_at"] is not None
    await work(app)

    assert await status_of(app, request_id) == "processed"
    assert len(to(smtp_server, "ada@example.com", DATA_READY)) == 1
    view = await detail(client, keys["operator"], request_id)
    step = [e for e in view["events"] if e["action"] == "manual_step_done"]
    assert step == [
        {
            "at": step[0]["at"],
            "action": "manual_step_done",
            "actor": "operator-key",
            "detail": f"paper_archive: {NOTE}",
        }
    ]
    # Done twice: refused, nothing changes, nothing more is sent.
    again = await done(client, keys["operator"], request_id, task["id"], note="again")
    assert again.status_code == 409
    assert again.json()["error"] == "conflict"
    assert "already marked done by operator-key" in again.json()["detail"]
    await work(app)
    assert len(to(smtp_server, "ada@example.com", DATA_READY)) == 1
    assert (await client.get("/v1/stats", headers=bearer(keys["operator"]))).json()["open_manual_tasks"] == 0


async def test_deletion_completes_when_the_erasure_and_the_manual_step_are_both_done(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    # The erasure runs at once; the request waits for the archive.
    await work(app)
    subject, text = owner_task_email(smtp_server, request_id)
    assert subject == f"Manueller Schritt in paper_archive für Löschantrag {request_id}"
    assert "die Löschung der eigenen personenbezogenen Daten verlangt" in text
    assert await status_of(app, request_id) == "in_progress"
    view = await detail(client, keys["operator"], request_id)
    actions = [e["action"] for e in view["events"]]
    assert "erased" in actions
    assert to(smtp_server, "ada@example.com", DELETION_DONE) == []

    [task] = await tasks(client, keys["operator"], request_id)
    assert (await done(client, keys["operator"], request_id, task["id"])).status_code == 200
    await work(app)

    assert await status_of(app, request_id) == "processed"
    [completed] = to(smtp_server, "ada@example.com", DELETION_DONE)
    view = await detail(client, keys["operator"], request_id)
    assert view["result"]["sources"]["crm"]["customers"]["action"] == "deleted"
    assert view["processed_at"] is not None
    assert view["tasks"][0]["status"] == "done"
    assert "Ada" not in str(completed["Subject"])


async def test_deletion_whose_manual_step_is_done_first_completes_with_its_erasure(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request_id = await confirm_deletion(client, keys, app, smtp_server, "ada@example.com")
    [task] = await tasks(client, keys["operator"], request_id)
    # Marked done before the worker has erased anything: the request still waits for the erasure.
    assert (await done(client, keys["operator"], request_id, task["id"])).status_code == 200
    assert await status_of(app, request_id) == "in_progress"
    assert to(smtp_server, "ada@example.com", DELETION_DONE) == []
    await work(app)
    assert await status_of(app, request_id) == "processed"
    assert len(to(smtp_server, "ada@example.com", DELETION_DONE)) == 1


async def test_fulfil_is_refused_while_a_manual_step_is_open(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], smtp_server: SmtpServer
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    url = f"/v1/privacy-requests/{request['id']}/fulfil"
    body = {"send_download_link": False, "note": "Printed and posted."}
    refused = await client.post(url, json=body, headers=bearer(keys["operator"]))
    assert refused.status_code == 409
    assert refused.json()["error"] == "invalid_transition"
    assert "1 manual step(s) of this request are still open" in refused.json()["detail"]
    assert await status_of(app, request["id"]) == "in_progress"

    [task] = await tasks(client, keys["operator"], request["id"])
    assert (await done(client, keys["operator"], request["id"], task["id"])).status_code == 200
    # Manual handling: the last task done does not fulfil it; the operator does.
    await work(app)
    assert await status_of(app, request["id"]) == "in_progress"
    fulfilled = await client.post(url, json=body, headers=bearer(keys["operator"]))
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["status"] == "processed"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"note": ""},
        {"note": "   "},
        {"note": "shredded\x00"},
        {"note": "bell\x07"},
        {"note": "x" * 2001},
        {"note": 42},
    ],
)
async def test_a_bad_note_is_refused(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], body: dict[str, Any]
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    [task] = await tasks(client, keys["operator"], request["id"])
    response = await client.post(
        f"/v1/privacy-requests/{request['id']}/tasks/{task['id']}/done",
        json=body,
        headers=bearer(keys["operator"]),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert (await tasks(client, keys["operator"], request["id"]))[0]["status"] == "open"


async def test_unknown_ids_roles_and_a_dismissed_request(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    request_id = request["id"]
    # Before it is accepted there is nothing to do by hand.
    assert await tasks(client, keys["operator"], request_id) == []
    await accept(client, keys["operator"], request_id, "manual")
    [task] = await tasks(client, keys["operator"], request_id)

    assert (await done(client, keys["operator"], request_id, str(uuid.uuid4()))).status_code == 404
    assert (await done(client, keys["operator"], str(uuid.uuid4()), task["id"])).status_code == 404
    missing = await client.get(f"/v1/privacy-requests/{uuid.uuid4()}/tasks", headers=bearer(keys["operator"]))
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    # An app key (the shop's backend submitting requests) neither reads a request's tasks nor marks one done.
    listed_by_app = await client.get(f"/v1/privacy-requests/{request_id}/tasks", headers=bearer(keys["app"]))
    assert listed_by_app.status_code == 403
    assert listed_by_app.json()["error"] == "forbidden"
    marked_by_app = await done(client, keys["app"], request_id, task["id"])
    assert marked_by_app.status_code == 403
    assert marked_by_app.json()["error"] == "forbidden"
    assert (await client.get("/v1/tasks", headers=bearer(keys["app"]))).status_code == 403
    assert (await tasks(client, keys["operator"], request_id))[0]["status"] == "open"

    # Dismissed: its open task is cancelled, leaves the owner's list, and cannot be marked done.
    dismissed = await client.delete(
        f"/v1/privacy-requests/{request_id}",
        params={"reason": "Duplicate of a letter", "notify": "false"},
        headers=bearer(keys["operator"]),
    )
    assert dismissed.status_code == 200, dismissed.text
    [cancelled] = await tasks(client, keys["operator"], request_id)
    assert cancelled["status"] == "cancelled"
    refused = await done(client, keys["operator"], request_id, task["id"])
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]
    listed = await client.get(
        "/v1/tasks", params={"status": "open", "owner_email": OWNER}, headers=bearer(keys["operator"])
    )
    assert listed.json() == {"items": [], "next_cursor": None}
    view = await detail(client, keys["operator"], request_id)
    assert ("manual_steps_cancelled", "paper_archive") in [(e["action"], e["detail"]) for e in view["events"]]


async def test_an_owners_open_tasks_across_requests_paged(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    ids = []
    for email in ("ada@example.com", "grace@example.com", "alan@example.com"):
        request = await submit(client, keys["app"], type="access", email=email)
        await accept(client, keys["operator"], request["id"], "manual")
        ids.append(request["id"])
    [first_task] = await tasks(client, keys["operator"], ids[0])
    assert (await done(client, keys["operator"], ids[0], first_task["id"])).status_code == 200

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "open", "owner_email": "ARCHIVE-OWNER@brand.test", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/tasks", params=params, headers=bearer(keys["operator"]))).json()
        seen.extend(item["request_id"] for item in page["items"])
        assert all(item["status"] == "open" for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[1:]  # oldest first; the done one is not listed
    everyone = (await client.get("/v1/tasks", headers=bearer(keys["operator"]))).json()
    assert len(everyone["items"]) == 3
    nobody = await client.get(
        "/v1/tasks", params={"owner_email": "someone@else.test"}, headers=bearer(keys["operator"])
    )
    assert nobody.json()["items"] == []
    bad = await client.get(
        "/v1/tasks", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=bearer(keys["operator"])
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "validation_error"
    assert (
        await client.get("/v1/tasks", params={"status": "closed"}, headers=bearer(keys["operator"]))
    ).status_code == 422


async def test_notes_are_cleared_with_the_request_after_records_retention(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    start = datetime(2030, 4, 1, 9, 0, tzinfo=UTC)
    clock.freeze(start)
    request = await submit(client, keys["app"], type="access", email="grace@example.com")
    await accept(client, keys["operator"], request["id"], "manual")
    [task] = await tasks(client, keys["operator"], request["id"])
    assert (
        await done(client, keys["operator"], request["id"], task["id"], note="Grace's folder")
    ).status_code == 200
    fulfilled = await client.post(
        f"/v1/privacy-requests/{request['id']}/fulfil",
        json={"send_download_link": False},
        headers=bearer(keys["operator"]),
    )
    assert fulfilled.status_code == 200, fulfilled.text
    clock.freeze(start + settings.records_retention + timedelta(minutes=1))
    await run_sweep(app.state.sessionmaker, app.state.ctx, HOUSEKEEPING_STEPS)
    [kept] = await tasks(client, keys["operator"], request["id"])
    assert (kept["status"], kept["done_by"], kept["note"]) == ("done", "operator-key", "[redacted]")
    assert kept["done_at"] is not None


async def test_an_access_request_accepted_at_submit_also_waits_for_its_manual_step(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    """AUTO_ACCEPT_ACCESS accepts in the submit's own transaction: the manual step opened there holds the
    package back just as an operator's accept does."""
    async with (
        running_app(settings.model_copy(update={"auto_accept_access": True})) as app,
        client_of(app) as client,
    ):
        keys = await role_keys(app)
        request = await submit(client, keys["app"], type="access", email="ada@example.com")
        assert request["status"] == "in_progress"
        await work(app)
        assert owner_task_email(smtp_server, request["id"])
        assert to(smtp_server, "ada@example.com", DATA_READY) == []
        assert await status_of(app, request["id"]) == "in_progress"
        [task] = await tasks(client, keys["operator"], request["id"])
        assert (await done(client, keys["operator"], request["id"], task["id"])).status_code == 200
        await work(app)
        assert await status_of(app, request["id"]) == "processed"
        assert len(to(smtp_server, "ada@example.com", DATA_READY)) == 1
