"""A real browser opens the links from the emails, reads the pages, clicks Confirm: once in English without brand
settings, once as a German customer of a configured brand, from the confirmation email to the download link that
stops working after the erasure. Screenshots of the German pages go to var/screenshots/ (not committed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.keys import Role, create_key
from app.core.db import unit_of_work
from app.main import create_app

from ..conftest import bearer, make_settings
from ..english import english_words_in
from ..factories import write_crm
from ..helpers import mailbox, text_of
from .flows import DOWNLOAD_LINK, VERIFY_LINK
from .live_server import LiveServer, free_port, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
BRAND = {
    "brand_name": "Nordwind Shop",
    "brand_url": "https://nordwind.example",
    "privacy_policy_url": "https://nordwind.example/datenschutz",
    "controller_address": "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
    "dpo_email": "datenschutz@nordwind.example",
    "timezone": "Europe/Berlin",
}

needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (CI installs it)"
)


@pytest.fixture
def chromium() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def keys_of(server: LiveServer) -> tuple[str, str]:
    async def keys() -> tuple[str, str]:
        async with unit_of_work(server.app.state.sessionmaker) as session:
            _k, app_key = await create_key(session, name="web", role=Role.APP)
            _k, operator_key = await create_key(session, name="cockpit", role=Role.OPERATOR)
        return app_key, operator_key

    return server.run(keys())


def newest_link(mail_dir: Path, to: str, pattern: Any) -> str:
    """The link of ``pattern``'s kind in the newest email to ``to``, as the customer's mail program shows it."""
    for email in reversed(mailbox(mail_dir)):
        found = pattern.search(text_of(email))
        if email["To"] == to and found:
            return str(found.group(0))
    raise AssertionError(f"no email to {to} carries a link like {pattern.pattern}")


@needs_chromium
def test_a_customer_confirms_a_deletion_in_a_browser(
    database_url: str, tmp_path: Path, sources_file: Path, chromium: Any
) -> None:
    # The links in the emails point at this very server.
    port = free_port()
    settings = make_settings(
        database_url, tmp_path, sources_file, public_base_url=f"http://127.0.0.1:{port}", port=port
    )
    application = create_app(settings, run_worker=False)
    with live_server(application, port=port) as server, httpx.Client(base_url=server.base_url) as http:
        app_key, operator_key = keys_of(server)
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

        page = chromium.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        response = page.goto(url)
        assert response is not None
        assert response.status == 200
        assert page.title() == "Confirm the deletion of your data"
        text = page.inner_text("main")
        assert "ada@example.com" in text
        # Entities by their names when the sources file gives no titles; never "crm / customers".
        assert "customers: erased." in text
        assert "orders: pseudonymised" in text  # its customer_id stays: pseudonymised, not anonymous
        assert "crm" not in text
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

        # The link is spent: opening it again says it was used, and that nothing else is needed.
        again = page.goto(url)
        assert again is not None
        assert again.status == 404
        assert page.inner_text("h1") == "You have already confirmed this deletion"
        assert "We email you when we have finished." in page.inner_text("main")

        assert _status(http, request_id, operator_key) == "in_progress"
        events = http.get(f"/v1/privacy-requests/{request_id}", headers=bearer(operator_key)).json()["events"]
        assert [(e["action"], e["actor"]) for e in events] == [("received", "web"), ("confirmed", "customer")]


@needs_chromium
def test_a_german_customer_deletes_their_data_in_a_browser(
    database_url: str, tmp_path: Path, chromium: Any
) -> None:
    sources_file = write_crm(tmp_path / "crm")
    text = sources_file.read_text()
    text = text.replace(
        "purpose: Customer account",
        "title: {en: Customer account, de: Kundenkonto}\n        purpose: {en: Your account, de: Ihr Kundenkonto}",
    )
    text = text.replace(
        "retention: Invoices are kept 10 years for tax law",
        "title: {en: Orders, de: Bestellungen}\n"
        "        retention: {en: Invoices are kept 10 years for tax law., de: Rechnungen werden 10 Jahre aufbewahrt.}",
    )
    sources_file.write_text(text)
    port = free_port()
    settings = make_settings(
        database_url,
        tmp_path,
        sources_file,
        public_base_url=f"http://127.0.0.1:{port}",
        port=port,
        **BRAND,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    application = create_app(settings, run_worker=False)
    with live_server(application, port=port) as server, httpx.Client(base_url=server.base_url) as http:
        app_key, operator_key = keys_of(server)
        worker = server.app.state.worker

        # Earlier, the customer asked for a copy of their data: a download link in a German email.
        access = http.post(
            "/v1/privacy-requests",
            json={"type": "access", "email": "ada@example.com", "locale": "de"},
            headers=bearer(app_key),
        )
        assert access.status_code == 201
        accepted = http.post(
            f"/v1/privacy-requests/{access.json()['id']}/accept",
            json={"handling": "automatic"},
            headers=bearer(operator_key),
        )
        assert accepted.status_code == 200
        server.run(worker.run_until_idle())
        download_url = f"{server.base_url}{newest_link(settings.mail_dir, 'ada@example.com', DOWNLOAD_LINK)}"
        assert http.get(download_url).status_code == 200

        # Now a deletion, in German; the link comes from the email as sent.
        deletion = http.post(
            "/v1/privacy-requests",
            json={"type": "deletion", "email": "ada@example.com", "locale": "de", "channel": "web"},
            headers=bearer(app_key),
        )
        assert deletion.status_code == 201
        request_id = deletion.json()["id"]
        server.run(worker.run_until_idle())
        verify_url = f"{server.base_url}{newest_link(settings.mail_dir, 'ada@example.com', VERIFY_LINK)}"

        # The browser asks for English: the request's language wins.
        context = chromium.new_context(locale="en-US", viewport={"width": 900, "height": 1000})
        page = context.new_page()
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        response = page.goto(verify_url)
        assert response is not None
        assert response.status == 200
        assert page.evaluate("document.documentElement.lang") == "de"
        assert page.title() == "Bitte bestätigen Sie die Löschung Ihrer Daten – Nordwind Shop"
        assert page.inner_text("header") == "Nordwind Shop"
        main = page.inner_text("main")
        assert "Bei Nordwind Shop ist ein Antrag eingegangen" in main
        assert "Kundenkonto: gelöscht." in main
        assert "Bestellungen: pseudonymisiert" in main
        assert "Rechnungen werden 10 Jahre aufbewahrt." in main
        assert "MEZ" in main  # the expiry in Europe/Berlin
        footer = page.inner_text("footer")
        assert "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg" in footer
        assert "datenschutz@nordwind.example" in footer
        assert english_words_in(_without_brand(page.inner_text("body"))) == []
        page.screenshot(path=str(SCREENSHOTS / "verify_de.png"), full_page=True)
        assert _status(http, request_id, operator_key) == "unverified"

        page.get_by_role("button", name="Löschung bei Nordwind Shop bestätigen").click()
        page.wait_for_load_state()
        assert page.title() == "Löschung bestätigt – Nordwind Shop"
        assert page.inner_text("h1") == "Vielen Dank: Ihr Löschantrag ist bestätigt"
        assert english_words_in(_without_brand(page.inner_text("body"))) == []
        page.screenshot(path=str(SCREENSHOTS / "verified_de.png"), full_page=True)
        assert console_errors == [], "the CSP must not block anything the pages need"

        # The erasure runs; afterwards the earlier download link shows a German 410 page.
        server.run(worker.run_until_idle())
        assert _status(http, request_id, operator_key) == "processed"
        gone = page.goto(download_url)
        assert gone is not None
        assert gone.status == 410
        assert page.evaluate("document.documentElement.lang") == "de"
        assert page.inner_text("h1") == "Dieser Link zum Herunterladen funktioniert nicht mehr"
        assert "Ihre personenbezogenen Daten wurden gelöscht" in page.inner_text("main")
        assert english_words_in(_without_brand(page.inner_text("body"))) == []
        page.screenshot(path=str(SCREENSHOTS / "download_gone_de.png"), full_page=True)

        # (Chromium logs the 410 itself as a console error; the CSP must block nothing.)
        assert [e for e in console_errors if "Content Security Policy" in e] == []
        context.close()

        # The spent confirmation link still knows its request: an English browser gets the German page, which
        # says the deletion was carried out.
        english_browser = chromium.new_context(locale="en-US")
        spent_page = english_browser.new_page()
        spent = spent_page.goto(verify_url)
        assert spent is not None
        assert spent.status == 404
        assert spent_page.inner_text("h1") == "Sie haben diese Löschung bereits bestätigt"
        assert "Wir haben Ihren Löschantrag ausgeführt." in spent_page.inner_text("main")
        english_browser.close()
        # An API client asking for the same link still gets the contract's JSON.
        api = http.get(download_url, headers={"Accept": "application/json"})
        assert api.status_code == 410
        assert api.json()["error"] == "gone"


def _without_brand(text: str) -> str:
    for value in BRAND.values():
        text = text.replace(value, " ")
    return text


def _status(http: httpx.Client, request_id: str, key: str) -> str:
    response = http.get(f"/v1/privacy-requests/{request_id}", headers=bearer(key))
    assert response.status_code == 200
    status: str = response.json()["status"]
    return status
