"""A download link that does not work: a browser gets a page in the customer's language, with the same status;
an API client keeps the contract's JSON error."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.config import Settings

from ..english import english_words_in
from ..helpers import accept, submit
from ..processing.world import work
from ..security.flows import DOWNLOAD_LINK, VERIFY_LINK, last_link

BRAND = {
    "brand_name": "Nordwind Shop",
    "brand_url": "https://nordwind.example",
    "privacy_policy_url": "https://nordwind.example/datenschutz",
    "controller_address": "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
    "dpo_email": "datenschutz@nordwind.example",
}
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ENGLISH_BROWSER = {"Accept": BROWSER, "Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 2, **BRAND}


async def download_link(
    client: httpx.AsyncClient, app: FastAPI, keys: dict[str, str], *, locale: str, email: str
) -> str:
    """A processed access request in ``locale`` and the path of the download link emailed for it."""
    request = await submit(client, keys["app"], type="access", email=email, locale=locale)
    await accept(client, keys["operator"], request["id"], "automatic")
    await work(app)
    return f"/v1/downloads/{last_link(app, DOWNLOAD_LINK)}"


def assert_page(response: httpx.Response, *, status: int, lang: str, heading: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert f'<html lang="{lang}">' in response.text
    assert f"<h1>{heading}</h1>" in response.text
    assert "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg" in response.text
    if lang == "de":
        prose = re.sub(r"<style>.*?</style>", " ", response.text, flags=re.DOTALL)
        for value in BRAND.values():
            prose = prose.replace(value, " ")
        assert english_words_in(prose) == []


def assert_json(response: httpx.Response, *, status: int, error: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error


@pytest.mark.parametrize("accept_header", [None, "application/json", "*/*", "application/zip"])
async def test_an_api_client_keeps_the_json_error(
    client: httpx.AsyncClient, accept_header: str | None
) -> None:
    headers = {"Accept": accept_header} if accept_header else {}
    assert_json(await client.get(f"/v1/downloads/{'A' * 43}", headers=headers), status=404, error="not_found")
    assert_json(await client.get("/v1/downloads/short", headers=headers), status=404, error="not_found")


@pytest.mark.parametrize(
    ("language", "lang", "heading"),
    [
        ("de-DE,de;q=0.9", "de", "Dieser Link zum Herunterladen ist ungültig"),
        ("en-GB", "en", "This download link is not valid"),
        (None, "en", "This download link is not valid"),
    ],
)
async def test_an_unknown_link_in_a_browser_answers_in_the_browsers_language(
    client: httpx.AsyncClient, language: str | None, lang: str, heading: str
) -> None:
    headers = {"Accept": BROWSER} | ({"Accept-Language": language} if language else {})
    response = await client.get(f"/v1/downloads/{'A' * 43}", headers=headers)
    assert_page(response, status=404, lang=lang, heading=heading)


async def test_an_expired_link_answers_in_the_requests_language(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    link = await download_link(client, app, keys, locale="de", email="ada@example.com")
    assert (await client.get(link)).status_code == 200
    clock.advance(settings.download_ttl)

    page = await client.get(link, headers=ENGLISH_BROWSER)
    assert_page(page, status=410, lang="de", heading="Dieser Link zum Herunterladen funktioniert nicht mehr")
    assert "dieser ist abgelaufen" in page.text
    assert_json(await client.get(link), status=410, error="gone")
    assert_json(await client.get(link, headers={"Accept": "application/json"}), status=410, error="gone")


async def test_a_link_revoked_by_an_erasure_says_the_data_was_erased(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    link = await download_link(client, app, keys, locale="de", email="ada@example.com")
    await submit(client, keys["app"], type="deletion", email="ada@example.com", locale="de")
    await app.state.worker.run_until_idle()
    confirmed = await client.post("/v1/verify", json={"token": last_link(app, VERIFY_LINK)})
    assert confirmed.status_code == 200
    await work(app)

    page = await client.get(link, headers=ENGLISH_BROWSER)
    assert_page(page, status=410, lang="de", heading="Dieser Link zum Herunterladen funktioniert nicht mehr")
    assert "Ihre personenbezogenen Daten wurden gelöscht" in page.text
    # Nothing is left to ask a copy of: no invitation to ask again.
    assert "erneut" not in page.text
    assert_json(await client.get(link), status=410, error="gone")
