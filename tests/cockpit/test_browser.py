"""A privacy-team member works requests in Chromium: signs in with the link from the email, filters and searches
the list, opens requests and acts on them (accept, download, fulfil, extend, dismiss, resend the link), opens a
customer, records a request received by phone, accepts and dismisses a whole filtered selection, exports it as
CSV, reads the dashboard; the timeline names the person. A page of another origin cannot make changes with the
person's session (no CSRF token)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from ..conftest import bearer
from ..security.live_server import live_server
from .browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OPERATOR,
    add_operator,
    app_key,
    chromium_available,
    cockpit_server,
    operator_key,
    seed,
    sign_in,
    status_of,
    work,
)

pytestmark = pytest.mark.skipif(
    not chromium_available(), reason=f"{CHROMIUM} is not installed (CI installs it)"
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


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def test_the_privacy_team_works_requests_in_the_browser(
    database_url: str, tmp_path: Path, sources_file: Path, chromium: Any
) -> None:
    expect = _expect()
    with (
        cockpit_server(database_url, tmp_path, sources_file) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        add_operator(server)
        key, checks = app_key(server), operator_key(server)
        made = seed(server, http, key)
        context = chromium.new_context(locale="en-GB", accept_downloads=True)
        page = context.new_page()
        problems: list[str] = []
        # Script errors and anything the CSP blocks (Chromium also logs each 4xx answer, such as the refused
        # action below and its own favicon.ico request, as "Failed to load resource": those are expected).
        page.on(
            "console",
            lambda m: (
                problems.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))

        # Signed out: the sign-in page; the emailed link signs the person in.
        sign_in(page, server)
        expect(page.locator("header")).to_contain_text("Signed in as Mia Schmidt")

        # The list: every open request, with its status in words and its days left.
        table = page.locator("table.requests")
        for person in ("ada@example.com", "bob@example.com", "grace@example.com"):
            expect(table).to_contain_text(person)
        expect(table.locator("tr", has_text="grace@example.com")).to_contain_text("Unverified")
        expect(table.locator("tr", has_text="ada@example.com")).to_contain_text("Pending")
        expect(table.locator("tr", has_text="ada@example.com")).to_contain_text("days left")

        # Filters (type) and search (an email's beginning), with the keyboard where a person would.
        page.select_option("#type", "deletion")
        page.get_by_role("button", name="Show requests").click()
        expect(table).to_contain_text("grace@example.com")
        expect(table).not_to_contain_text("bob@example.com")
        page.get_by_role("link", name="Clear filters").click()
        page.get_by_label("Search by email or customer id").fill("bob@")
        page.get_by_label("Search by email or customer id").press("Enter")
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table).to_contain_text("bob@example.com")

        # A request: accept with manual handling, download the data, fulfil without a link.
        page.goto(f"{server.base_url}/cockpit/requests/{made['ada']['id']}")
        expect(page.locator("h1")).to_have_text("Access request: Ada Lovelace")
        page.get_by_label("Manual: I review the data, then mark the request fulfilled").check()
        page.get_by_role("button", name="Accept", exact=True).click()
        expect(page.locator("#result")).to_have_text("The request is accepted.")
        expect(page.locator(".summary .chip")).to_have_text("In progress")
        with page.expect_download() as zipped:
            page.get_by_role("link", name="Download the data (ZIP)").click()
        archive = zipfile.ZipFile(zipped.value.path())
        assert "data.json" in archive.namelist()
        with page.expect_download() as as_json:
            page.get_by_role("link", name="Download the data (JSON)").click()
        document = json.loads(Path(as_json.value.path()).read_text())
        assert document["customer"]["email"] == "ada@example.com"
        page.get_by_label("Email the customer a download link").uncheck()
        page.get_by_label("Note (optional)").fill("Handed over at the counter")
        page.get_by_role("button", name="Mark fulfilled").click()
        expect(page.locator("#result")).to_have_text("The request is fulfilled.")
        expect(page.locator(".summary .chip")).to_have_text("Processed")
        timeline = page.locator("ol.timeline")
        expect(timeline.locator("li", has_text="Accepted")).to_contain_text(f"by {OPERATOR}")
        expect(timeline.locator("li", has_text="Data downloaded by an operator").first).to_contain_text(
            OPERATOR
        )
        expect(timeline.locator("li", has_text="Fulfilled")).to_contain_text(f"by {OPERATOR}")
        expect(timeline.locator("li", has_text="Fulfilled")).to_contain_text("Handed over at the counter")

        # The customer: the directory record and their requests.
        page.get_by_role("link", name="Ada Lovelace").click()
        expect(page.locator("h1")).to_have_text("Customer: Ada Lovelace")
        expect(page.locator("main")).to_contain_text("cus_1")
        expect(page.locator("table.requests")).to_contain_text("Processed")

        # Extend, then dismiss without telling the customer.
        page.goto(f"{server.base_url}/cockpit/requests/{made['bob']['id']}")
        page.get_by_label("Reason (the customer is told)").fill("We are waiting for a records archive.")
        page.get_by_role("button", name="Extend", exact=True).click()
        expect(page.locator("#result")).to_have_text("The deadline is extended.")
        expect(timeline.locator("li", has_text="Deadline extended")).to_contain_text(f"by {OPERATOR}")
        expect(page.get_by_role("button", name="Extend", exact=True)).to_have_count(0)  # once only
        page.locator("#dismiss-reason").fill("A duplicate of an earlier request")
        page.get_by_label("No (the reason says why, e.g. a duplicate)").check()
        page.get_by_role("button", name="Dismiss", exact=True).click()
        expect(page.locator("#result")).to_have_text("The request is dismissed.")
        expect(page.locator(".summary .chip")).to_have_text("Dismissed")
        expect(timeline.locator("li", has_text="Dismissed")).to_contain_text(f"by {OPERATOR}")

        # Resend the confirmation link of a deletion request.
        page.goto(f"{server.base_url}/cockpit/requests/{made['grace']['id']}")
        page.get_by_role("button", name="Send the link again").click()
        expect(page.locator("#result")).to_have_text("A new confirmation link was sent.")
        expect(timeline.locator("li", has_text="Confirmation link sent again")).to_contain_text(OPERATOR)

        # An action the request's state no longer allows is refused with the reason, and nothing changes.
        page.goto(f"{server.base_url}/cockpit/requests/{made['batch0']['id']}")
        assert status_of(http, checks, made["batch0"]["id"]) == "pending"
        http.post(
            f"/v1/privacy-requests/{made['batch0']['id']}/accept",
            json={"handling": "automatic"},
            headers=bearer(checks),
        )
        page.get_by_role("button", name="Accept", exact=True).click()
        expect(page.locator(".form-problem")).to_contain_text("not possible in the request’s current state")
        work(server)

        # Intake: a deletion request received by phone for a known customer.
        page.get_by_role("link", name="New request").click()
        page.get_by_label("Deletion").check()
        page.get_by_label("By phone").check()
        page.get_by_label("Customer id").fill("cus_3")
        page.get_by_label("Note: how the identity was checked, or who the authorised agent is").fill(
            "Called from the number on file; date of birth checked"
        )
        page.get_by_role("button", name="Record the request").click()
        page.wait_for_url("**/cockpit/requests/*")
        expect(page.locator("#result")).to_have_text("The request is recorded.")
        expect(page.locator("h1")).to_have_text("Deletion request: Alan Turing")
        expect(page.locator("main")).to_contain_text("via phone")
        expect(timeline.locator("li", has_text="Note")).to_contain_text(f"by {OPERATOR}")
        expect(timeline.locator("li", has_text="Note")).to_contain_text("date of birth checked")

        # Bulk accept of the filtered selection (pending access requests), after counting and confirming.
        page.goto(f"{server.base_url}/cockpit?type=access&status=pending")
        expect(table.locator("tbody tr")).to_have_count(2)  # batch1, batch2
        page.get_by_role("button", name="Accept matching requests…").click()
        confirm = page.locator(".bulk-confirm")
        expect(confirm).to_contain_text("2 requests match.")
        expect(confirm).to_be_focused()
        page.get_by_role("button", name="Yes, go ahead").click()
        expect(page.locator("#result")).to_have_text("Done: 2 changed, 0 left as they were.")
        expect(page.locator("main")).to_contain_text("No request matches these filters.")
        for name in ("batch1", "batch2"):
            assert status_of(http, checks, made[name]["id"]) == "in_progress"

        # Bulk dismiss: cancelled first (nothing changes), then confirmed.
        page.goto(f"{server.base_url}/cockpit?q=old")
        expect(table.locator("tbody tr")).to_have_count(2)
        page.locator("#bulk-reason").fill("Test requests from the shop's staging system")
        page.get_by_label("No (the reason says why, e.g. duplicates)").check()
        page.get_by_role("button", name="Dismiss matching requests…").click()
        expect(confirm).to_contain_text("2 requests match.")
        expect(confirm).to_be_focused()
        page.keyboard.press("Escape")  # the keyboard's way out, as in any dialog
        expect(page.locator("#result")).to_have_text("Cancelled: nothing was changed.")
        assert status_of(http, checks, made["old0"]["id"]) == "unverified"
        page.get_by_role("button", name="Dismiss matching requests…").click()
        page.get_by_role("button", name="Yes, go ahead").click()
        expect(page.locator("#result")).to_have_text("Done: 2 changed, 0 left as they were.")
        for name in ("old0", "old1"):
            assert status_of(http, checks, made[name]["id"]) == "deleted"

        # CSV export of the filtered list.
        page.goto(f"{server.base_url}/cockpit?status=deleted")
        with page.expect_download() as exported:
            page.get_by_role("link", name="Export as CSV").click()
        rows = list(csv.DictReader(io.StringIO(Path(exported.value.path()).read_text(encoding="utf-8-sig"))))
        assert sorted(row["email"] for row in rows) == [
            "bob@example.com",
            "old0@example.com",
            "old1@example.com",
        ]

        # The dashboard.
        page.get_by_role("link", name="Dashboard").click()
        expect(page.locator("h1")).to_have_text("Dashboard")
        stats = http.get("/v1/stats", headers=bearer(checks)).json()
        dismissed = page.locator("table.counts tr", has_text="Dismissed")
        expect(dismissed).to_contain_text(str(stats["by_status"]["deleted"]))
        expect(page.locator(".tile").first).to_contain_text(f"{stats['overdue']} overdue")

        # German, by the switch.
        page.get_by_role("link", name="Deutsch").click()
        expect(page.locator("h1")).to_have_text("Übersicht")
        expect(page.locator("html")).to_have_attribute("lang", "de")

        assert problems == [], "no script error and nothing blocked by the CSP"

        # Signing out ends the session: the cockpit asks to sign in again.
        page.get_by_role("button", name="Abmelden").click()
        page.wait_for_url("**/cockpit/sign-in*")
        page.goto(f"{server.base_url}/cockpit")
        assert "/cockpit/sign-in" in page.url
        context.close()


def test_another_origin_cannot_act_with_the_session(
    database_url: str, tmp_path: Path, sources_file: Path, chromium: Any
) -> None:
    with (
        cockpit_server(database_url, tmp_path, sources_file) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        add_operator(server)
        key, checks = app_key(server), operator_key(server)
        target = seed(server, http, key)["ada"]["id"]
        accept_url = f"{server.base_url}/v1/privacy-requests/{target}/accept"

        # Another site on this machine (another port: another origin, the same site, so the SameSite cookie
        # goes along): a script posts with the person's cookie, and a form is posted.
        other = FastAPI()

        @other.get("/")
        async def lure() -> HTMLResponse:
            return HTMLResponse(
                "<!doctype html><title>Prize</title>"
                f'<form id="f" method="post" enctype="text/plain" action="{accept_url}">'
                '<input name=\'{"handling":"automatic","x":"\' value=\'"}\'>'
                '<button type="submit">Claim</button></form>'
                "<script>"
                f"fetch({json.dumps(accept_url)}, {{method: 'POST', mode: 'no-cors', credentials: 'include', "
                "headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({handling: 'automatic'})})"
                ".then(function () { document.title = 'sent'; });"
                "</script>"
            )

        context = chromium.new_context()
        page = context.new_page()
        sign_in(page, server)
        with live_server(other) as lure_server:
            statuses: list[int] = []
            page.on(
                "response",
                lambda response: statuses.append(response.status) if response.url == accept_url else None,
            )
            page.goto(lure_server.base_url)
            page.wait_for_function("document.title === 'sent'")
            page.get_by_role("button", name="Claim").click()
            page.wait_for_load_state()
        assert statuses == [403, 403]
        assert "CSRF" in page.inner_text("body") or "another site" in page.inner_text("body")
        assert status_of(http, checks, target) == "pending"
        events = http.get(f"/v1/privacy-requests/{target}", headers=bearer(checks)).json()["events"]
        assert [event["action"] for event in events] == ["received"]

        # The same person in the cockpit, with the page's token, can.
        page.goto(f"{server.base_url}/cockpit/requests/{target}")
        page.get_by_role("button", name="Accept", exact=True).click()
        page.locator("#result").filter(has_text="The request is accepted.").wait_for()
        assert status_of(http, checks, target) == "in_progress"
        context.close()


def test_a_person_signs_in_with_oidc_and_acts_under_their_name(
    database_url: str, tmp_path: Path, sources_file: Path, chromium: Any
) -> None:
    from ..operators.oidc_provider import CLIENT_ID, CLIENT_SECRET, Person, running_oidc_provider

    expect = _expect()
    with running_oidc_provider() as idp:
        idp.person = Person(email="noor@brand.test", name="Noor Haddad", role="operator")
        oidc = {"oidc_issuer": idp.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET}
        with (
            cockpit_server(database_url, tmp_path, sources_file, **oidc) as server,
            httpx.Client(base_url=server.base_url) as http,
        ):
            key, checks = app_key(server), operator_key(server)
            target = seed(server, http, key)["ada"]["id"]
            context = chromium.new_context()
            page = context.new_page()
            page.goto(f"{server.base_url}/cockpit/requests/{target}")
            assert "/cockpit/sign-in" in page.url
            page.get_by_role("link", name="Sign in with your organisation's account").click()
            # Back where the person was going, signed in.
            page.wait_for_url(f"{server.base_url}/cockpit/requests/{target}")
            expect(page.locator("header")).to_contain_text("Signed in as Noor Haddad")
            page.get_by_role("button", name="Accept", exact=True).click()
            expect(page.locator("#result")).to_have_text("The request is accepted.")
            expect(page.locator("ol.timeline li", has_text="Accepted")).to_contain_text(
                "by Noor Haddad <noor@brand.test>"
            )
            assert status_of(http, checks, target) == "in_progress"
            context.close()
