"""A confirmation link that works or not, opened in a browser: the page is in the language of the request the
link belongs to (whatever the browser asks), in the browser's language when the link names no request, and
always from the brand."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings

from ..english import english_words_in
from ..factories import write_crm
from ..helpers import submit
from ..security.flows import VERIFY_LINK, last_link

BRAND = {
    "brand_name": "Nordwind Shop",
    "brand_url": "https://nordwind.example",
    "privacy_policy_url": "https://nordwind.example/datenschutz",
    "controller_address": "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
    "dpo_email": "datenschutz@nordwind.example",
    "timezone": "Europe/Berlin",
}
ENGLISH_BROWSER = {"Accept-Language": "en-US,en;q=0.9", "Accept": "text/html,*/*;q=0.8"}
GERMAN_BROWSER = {"Accept-Language": "de-DE,de;q=0.9", "Accept": "text/html,*/*;q=0.8"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return BRAND


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    """The CRM with titles and texts in both languages."""
    path = write_crm(tmp_path / "crm")
    text = path.read_text()
    text = text.replace(
        "purpose: Customer account",
        "title: {en: Customer account, de: Kundenkonto}\n        purpose: {en: Your account, de: Ihr Konto}",
    )
    text = text.replace(
        "retention: Invoices are kept 10 years for tax law",
        "title: {en: Orders, de: Bestellungen}\n"
        "        retention: {en: Invoices are kept 10 years for tax law., de: Rechnungen werden 10 Jahre aufbewahrt.}",
    )
    path.write_text(text)
    return path


def german_prose(html: str) -> str:
    """What must be German on a German page: everything but the style sheet and the brand's own strings."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.DOTALL)
    for value in BRAND.values():
        html = html.replace(value, " ")
    return html


def assert_german_page(response: httpx.Response, status: int, heading: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    assert '<html lang="de">' in html
    assert f"<h1>{heading}</h1>" in html
    assert "Nordwind Shop" in html
    assert "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg" in html
    assert "datenschutz@nordwind.example" in html
    assert english_words_in(german_prose(html)) == []


async def deletion_link(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], *, locale: str, email: str
) -> str:
    await submit(client, keys["app"], type="deletion", email=email, locale=locale)
    await app.state.worker.run_until_idle()
    return last_link(app, VERIFY_LINK)


async def test_a_german_request_gets_german_pages_in_an_english_browser(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    token = await deletion_link(client, app, keys, locale="de", email="ada@example.com")
    page = await client.get("/v1/verify", params={"token": token}, headers=ENGLISH_BROWSER)
    assert_german_page(page, 200, "Bitte bestätigen Sie die Löschung Ihrer Daten")
    assert "Löschung bei Nordwind Shop bestätigen</button>" in page.text
    assert "<strong>Kundenkonto</strong>" in page.text
    assert "<strong>Bestellungen</strong>" in page.text
    assert "Rechnungen werden 10 Jahre aufbewahrt." in page.text
    for table in ("customers", "orders", "crm"):
        assert table not in page.text.split("<main>")[1]

    confirmed = await client.post("/v1/verify", data={"token": token}, headers=ENGLISH_BROWSER)
    assert_german_page(confirmed, 200, "Vielen Dank: Ihr Löschantrag ist bestätigt")


async def test_an_expired_link_answers_in_the_requests_language_not_the_browsers(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    german = await deletion_link(client, app, keys, locale="de", email="ada@example.com")
    english = await deletion_link(client, app, keys, locale="en", email="grace@example.com")
    clock.advance(settings.verification_ttl + timedelta(seconds=1))

    for response in (
        await client.get("/v1/verify", params={"token": german}, headers=ENGLISH_BROWSER),
        await client.post("/v1/verify", data={"token": german}, headers=ENGLISH_BROWSER),
    ):
        assert_german_page(response, 410, "Dieser Link ist abgelaufen")
        assert "nichts gelöscht" in response.text

    page = await client.get("/v1/verify", params={"token": english}, headers=GERMAN_BROWSER)
    assert page.status_code == 410
    assert '<html lang="en">' in page.text
    assert "<h1>This link has expired</h1>" in page.text

    # An API client posting JSON still gets the contract's error body.
    as_json = await client.post("/v1/verify", json={"token": german}, headers={"Accept-Language": "de"})
    assert as_json.status_code == 410
    assert as_json.json()["error"] == "gone"


@pytest.mark.parametrize(
    ("headers", "lang", "heading"),
    [
        (GERMAN_BROWSER, "de", "Dieser Link ist ungültig"),
        ({"Accept-Language": "fr-FR,fr;q=0.9,de;q=0.8"}, "de", "Dieser Link ist ungültig"),
        (ENGLISH_BROWSER, "en", "This link is not valid"),
        ({}, "en", "This link is not valid"),
    ],
)
async def test_an_unknown_link_answers_in_the_browsers_language(
    client: httpx.AsyncClient, headers: dict[str, str], lang: str, heading: str
) -> None:
    for response in (
        await client.get("/v1/verify", params={"token": "A" * 43}, headers=headers),
        await client.get("/v1/verify", params={"token": "not a token"}, headers=headers),
        await client.post("/v1/verify", data={"token": "A" * 43}, headers=headers),
    ):
        assert response.status_code == 404
        assert f'<html lang="{lang}">' in response.text
        assert f"<h1>{heading}</h1>" in response.text
        assert "Nordwind Shop" in response.text
    if lang == "de":
        assert_german_page(response, 404, heading)


async def test_a_used_link_answers_in_the_requests_language_whatever_the_browser(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    token = await deletion_link(client, app, keys, locale="de", email="ada@example.com")
    assert (await client.post("/v1/verify", data={"token": token})).status_code == 200
    for browser in (GERMAN_BROWSER, ENGLISH_BROWSER):
        again = await client.get("/v1/verify", params={"token": token}, headers=browser)
        assert_german_page(again, 404, "Sie haben diese Löschung bereits bestätigt")
        # Spent: posting it again confirms nothing more.
        repeat = await client.post("/v1/verify", data={"token": token}, headers=browser)
        assert_german_page(repeat, 404, "Sie haben diese Löschung bereits bestätigt")
