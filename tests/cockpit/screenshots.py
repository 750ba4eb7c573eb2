"""`make screenshots`: PNGs of each cockpit screen in English and German under var/screenshots/.

Runs the real service on a throw-away SQLite database with the tests' small CRM, signs in through the emailed
link in Chromium, and photographs the screens with requests in every state (some overdue, some due soon).
Run as ``.venv/bin/python -m tests.cockpit.screenshots``.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app.auth import operators
from app.auth.keys import Role, create_key
from app.core import clock
from app.core.db import unit_of_work
from app.core.migrations import upgrade

from ..conftest import bearer
from ..factories import write_crm
from ..security.live_server import LiveServer
from ..webhooks.receiver import free_port, running_receiver
from .browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OPERATOR_EMAIL,
    OPERATOR_NAME,
    app_key,
    chromium_available,
    cockpit_server,
    operator_key,
    sign_in,
    submit,
    work,
)

OUT = Path(__file__).resolve().parents[2] / "var" / "screenshots"
VIEWPORT: Any = {"width": 1280, "height": 900}


def _seed(server: Any, http: httpx.Client) -> dict[str, str]:
    """Requests received over the past weeks, so the list shows overdue, urgent, soon and calm deadlines."""
    key, operator = app_key(server), operator_key(server)
    ids: dict[str, str] = {}
    for days_ago, body in (
        (40, {"type": "access", "email": "alan@example.com", "channel": "web"}),
        (33, {"type": "deletion", "email": "hedy@example.com", "channel": "ios"}),
        (29, {"type": "access", "email": "grace@example.com", "channel": "android"}),
        (24, {"type": "access", "email": "linus@example.com", "channel": "web"}),
        (3, {"type": "deletion", "email": "katherine@example.com", "channel": "web", "locale": "de"}),
        (1, {"type": "access", "email": "ada@example.com", "channel": "ios"}),
        (0, {"type": "access", "email": "barbara@example.com", "channel": "web"}),
    ):
        clock.reset()
        clock.advance(timedelta(days=-days_ago))
        ids[body["email"].split("@")[0]] = submit(http, key, **body)["id"]
    clock.reset()
    work(server)
    # Ada's request has a history: accepted for manual handling, her data downloaded.
    http.post(
        f"/v1/privacy-requests/{ids['ada']}/accept", json={"handling": "manual"}, headers=bearer(operator)
    )
    http.get(f"/v1/privacy-requests/{ids['ada']}/data", headers=bearer(operator))
    http.post(
        f"/v1/privacy-requests/{ids['linus']}/accept",
        json={"handling": "automatic"},
        headers=bearer(operator),
    )
    work(server)
    return ids


def _add_admin(server: LiveServer) -> str:
    """The person who signs in, an admin (so the webhook screens are shown), and an admin API key."""

    async def create() -> str:
        async with unit_of_work(server.app.state.sessionmaker) as session:
            await operators.create_operator(session, email=OPERATOR_EMAIL, name=OPERATOR_NAME, role="admin")
            _key, plaintext = await create_key(session, name="admin", role=Role.ADMIN)
        return plaintext

    return server.run(create())


def _subscribe(
    http: httpx.Client, admin: str, url: str, events: list[str], description: str
) -> dict[str, Any]:
    body = {"url": url, "events": events, "description": description}
    response = http.post("/v1/webhooks", json=body, headers=bearer(admin))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def shot(
    page: Any, base: str, lang: str, name: str, address: str | None = None, *, full_page: bool = True
) -> None:
    if address is not None:
        page.goto(f"{base}{address}")
    path = OUT / f"cockpit_{name}_{lang}.png"
    page.screenshot(path=str(path), full_page=full_page)
    sys.stdout.write(f"{path}\n")


def main() -> int:
    if not chromium_available():
        sys.stderr.write(f"{CHROMIUM} is not installed; no screenshots taken\n")
        return 1
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'cockpit.db'}"
        upgrade(database_url)
        sources_file = write_crm(tmp_path / "crm")
        # Nothing is handled or expires by itself here: the screens show requests in every state of their deadline.
        quiet = {"auto_handle_before_due": "", "verification_ttl": "P60D", "deadline_warnings": ""}
        with (
            cockpit_server(database_url, tmp_path, sources_file, **quiet) as server,
            httpx.Client(base_url=server.base_url) as http,
            sync_playwright() as playwright,
            running_receiver() as receiver,
        ):
            admin = _add_admin(server)
            # A CRM that took every event but the first (a 503, retried later), and a warehouse that is down.
            crm = _subscribe(
                http, admin, receiver.url, ["request.received", "request.accepted"], "CRM clean-up"
            )
            _subscribe(
                http, admin, f"http://127.0.0.1:{free_port()}/hooks", ["request.accepted"], "Data warehouse"
            )
            receiver.secret, receiver.failing = crm["secret"], 1
            ids = _seed(server, http)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            base = server.base_url
            for lang, browser_locale in (("en", "en-GB"), ("de", "de-DE")):
                context = browser.new_context(viewport=VIEWPORT, locale=browser_locale)
                page = context.new_page()
                sign_in(page, server)
                page.goto(f"{base}/cockpit/language?lang={lang}&next=/cockpit")

                shot(page, base, lang, "list", "/cockpit?sort=due_at")
                shot(page, base, lang, "list_filtered", "/cockpit?type=access&q=a")
                shot(page, base, lang, "request", f"/cockpit/requests/{ids['ada']}")
                shot(page, base, lang, "request_pending", f"/cockpit/requests/{ids['barbara']}")
                shot(page, base, lang, "customer", "/cockpit/customers/cus_1")
                shot(page, base, lang, "intake", "/cockpit/intake")
                shot(page, base, lang, "dashboard", "/cockpit/dashboard")
                shot(page, base, lang, "webhooks", "/cockpit/webhooks")
                shot(page, base, lang, "webhook_deliveries", f"/cockpit/webhooks/{crm['id']}")
                page.goto(f"{base}/cockpit?type=access&status=pending")
                page.locator("form.js-bulk[data-bulk=accept] button[type=submit]").click()
                page.locator(".bulk-confirm").wait_for()
                page.locator(".bulk-confirm").scroll_into_view_if_needed()
                shot(page, base, lang, "bulk_confirm", full_page=False)
                context.close()
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
