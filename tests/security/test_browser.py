"""A real browser opens the confirmation link from the email, reads the page, clicks Confirm."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from app.auth.keys import Role, create_key
from app.core.db import unit_of_work
from app.main import create_app

from ..conftest import bearer, make_settings
from ..helpers import mailbox, text_of
from .flows import VERIFY_LINK
from .live_server import free_port, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (CI installs it)")
def test_a_customer_confirms_a_deletion_in_a_browser(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    # The links in the emails point at this very server.
    port = free_port()
    settings = make_settings(
        database_url, tmp_path, sources_file, public_base_url=f"http://127.0.0.1:{port}", port=port
    )
    application = create_app(settings, run_worker=False)
    with live_server(application, port=port) as server, httpx.Client(base_url=server.base_url) as http:

        async def keys() -> tuple[str, str]:
            async with unit_of_work(server.app.state.sessionmaker) as session:
                _k, app_key = await create_key(session, name="web", role=Role.APP)
                _k, operator_key = await create_key(session, name="cockpit", role=Role.OPERATOR)
            return app_key, operator_key

        app_key, operator_key = server.run(keys())
        submitted = http.post(
            "/v1/privacy-requests",
            json={"type": "deletion", "email": "ada@example.com", "channel": "web"},
            headers=bearer(app_key),
        )
        assert submitted.status_code == 201
        request_id = submitted.json()["id"]
        server.run(server.app.state.worker.run_until_idle())  # sends the confirmation email
        [email] = mailbox(settings.mail_dir)
        assert email["To"] == "ada@example.com"
        link = VERIFY_LINK.search(text_of(email))
        assert link is not None
        url = f"{server.base_url}{link.group(0)}"

        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                console_errors: list[str] = []
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                response = page.goto(url)
                assert response is not None
                assert response.status == 200
                assert page.title() == "Confirm the deletion of your data"
                text = page.inner_text("main")
                assert "ada@example.com" in text
                assert "crm / customers" in text
                assert "erased" in text
                assert "crm / orders" in text
                assert "anonymised" in text
                assert "Erasure cannot be undone." in text
                # Opening the link changed nothing: mail scanners open links too.
                assert _status(http, request_id, operator_key) == "unverified"

                page.get_by_role("button", name="Confirm deletion").click()
                page.wait_for_load_state()
                assert page.title() == "Deletion confirmed"
                assert "your deletion request is confirmed" in page.inner_text("h1")
                assert "ada@example.com" in page.inner_text("main")
                # The page's address no longer carries the token (the form posted it).
                assert "token" not in page.url
                assert console_errors == [], "the CSP must not block anything the pages need"

                # The link is spent: opening it again shows the 'not valid' page.
                again = page.goto(url)
                assert again is not None
                assert again.status == 404
                assert "This link is not valid" in page.inner_text("h1")
            finally:
                browser.close()

        assert _status(http, request_id, operator_key) == "in_progress"
        events = http.get(f"/v1/privacy-requests/{request_id}", headers=bearer(operator_key)).json()["events"]
        assert [(e["action"], e["actor"]) for e in events] == [("received", "web"), ("confirmed", "customer")]


def _status(http: httpx.Client, request_id: str, key: str) -> str:
    response = http.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    assert response.status_code == 200
    status: str = response.json()["status"]
    return status
