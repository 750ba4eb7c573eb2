import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from app.core.brand import Brand
from app.pages import PAGES, SECURITY_HEADERS, preferred_locale, render_page, wants_html

from ..english import english_words_in

BRAND = Brand(
    name="Nordwind Shop",
    url="https://nordwind.example",
    privacy_policy_url="https://nordwind.example/datenschutz",
    controller_address="Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg",
    dpo_email="datenschutz@nordwind.example",
    authority_name="Der Hamburgische Beauftragte für Datenschutz",
    authority_url="https://datenschutz-hamburg.de",
)

# As sources.describe() gives them: titles and texts per language, or one text for every language.
ENTITIES: list[dict[str, Any]] = [
    {
        "source": "crm",
        "entity": "customers",
        "title": {"en": "Customer account", "de": "Kundenkonto"},
        "erase": "delete",
        "pseudonymised": False,
        "purpose": {"en": "To run your account", "de": "Um Ihr Konto zu führen"},
        "retention": None,
        "retention_basis": None,
    },
    {
        "source": "crm",
        "entity": "orders",
        "title": {"en": "Orders", "de": "Bestellungen"},
        "erase": "anonymize",
        "pseudonymised": True,
        "purpose": None,
        "retention": None,
        "retention_basis": None,
    },
    {
        "source": "crm",
        "entity": "newsletter",
        "title": {"en": "Newsletter", "de": "Newsletter"},
        "erase": "anonymize",
        "pseudonymised": False,
    },
    {
        "source": "crm",
        "entity": "order_items",
        "title": {"en": "Invoice lines", "de": "Rechnungspositionen"},
        "erase": "keep",
        "pseudonymised": False,
        "retention": {
            "en": "Invoices are kept 10 years for tax law.",
            "de": "Rechnungen werden 10 Jahre für das Finanzamt aufbewahrt.",
        },
        "retention_basis": "legal_obligation",
    },
    {
        "source": "crm",
        "entity": "tickets",
        "title": {"en": "Support tickets", "de": "Supportanfragen"},
        "erase": "keep",
        "retention": {"en": "Kept 2 years for warranty claims.", "de": "2 Jahre wegen Gewährleistung."},
        "retention_basis": "contract",
    },
    {"source": "loyalty", "entity": None, "title": "Bonusprogramm", "erase": "delete"},
]


def verify_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "token": "tok-123",
        "verify_action": "/v1/verify",
        "email": "ada@example.com",
        "expires_at": datetime(2026, 12, 7, 14, 5, tzinfo=UTC),
        "entities": ENTITIES,
        "reason": "expired",
        "progress": "working",
    }
    return context | overrides


def page(name: str, locale: str, brand: Brand = BRAND, **context: Any) -> str:
    return render_page(name, locale, verify_context(**context), brand=brand, timezone="Europe/Berlin")


class TagFinder(HTMLParser):
    """Collects the tags a browser would see, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    finder = TagFinder()
    finder.feed(html)
    return finder.tags


def text_of(html: str) -> str:
    finder = TagFinder()
    finder.feed(html)
    return " ".join("".join(finder.text).split())


def without_brand(html: str) -> str:
    """The page without what is not prose a customer reads: the style sheet, and the brand's own strings."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.DOTALL)
    for value in BRAND.as_context().values():
        if value:
            html = html.replace(value, " ")
    return html


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_renders_accessibly_with_the_brand(name: str, locale: str) -> None:
    html = page(name, locale)
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in html
    assert html.count("<main>") == 1
    assert html.count("<h1>") == 1
    title = re.search(r"<title>([^<]+)</title>", html)
    assert title is not None
    assert title.group(1).endswith(" – Nordwind Shop")
    # No scripts and nothing loaded from anywhere (the CSP forbids it too).
    assert "<script" not in html
    assert "<link" not in html
    assert "<img" not in html
    assert "src=" not in html
    # Who is writing: the brand, the controller and its address, the DPO, the privacy policy.
    assert '<header><a href="https://nordwind.example">Nordwind Shop</a></header>' in html
    footer = html[html.index("<footer>") :]
    assert "Nordwind Handels GmbH, Hafenstraße 1, 20457 Hamburg" in footer
    assert '<a href="mailto:datenschutz@nordwind.example">datenschutz@nordwind.example</a>' in footer
    policy = {"en": "Privacy policy", "de": "Datenschutzerklärung"}[locale]
    assert f'<a href="https://nordwind.example/datenschutz">{policy}</a>' in footer


@pytest.mark.parametrize("name", sorted(PAGES))
def test_no_english_is_left_on_a_german_page(name: str) -> None:
    for reason in ("expired", "erased", "unavailable"):
        html = page(name, "de", reason=reason)
        assert english_words_in(without_brand(html)) == [], name
    # The check itself finds English: the English page is full of it.
    assert english_words_in(without_brand(page(name, "en")))


def test_a_page_without_brand_settings_leaves_them_out() -> None:
    html = page("verify", "en", brand=Brand())
    assert "<header>" not in html
    assert "<footer>" not in html
    assert re.search(r"<title>Confirm the deletion of your data</title>", html)
    assert "We received a request to erase the personal data we hold about" in html
    assert re.search(r'<button type="submit"[^>]*>Confirm deletion</button>', html)


@pytest.mark.parametrize(
    ("locale", "button", "facts"),
    [
        (
            "en",
            "Confirm deletion at Nordwind Shop",
            [
                "Nordwind Shop received a request to erase the personal data it holds about ada@example.com.",
                "This link works until 7 December 2026, 15:05 CET.",
                "Customer account: erased. Purpose: To run your account",
                "Orders: pseudonymised: the records are kept, with your personal details removed or replaced "
                "by a code; they could still be linked back to you.",
                "Newsletter: anonymised: the records are kept without your personal details.",
                "Invoice lines: kept, because the law requires it. Invoices are kept 10 years for tax law.",
                "Support tickets: kept, because we need it to fulfil a contract with you. "
                "Kept 2 years for warranty claims.",
                "Bonusprogramm: erased.",
            ],
        ),
        (
            "de",
            "Löschung bei Nordwind Shop bestätigen",
            [
                "Bei Nordwind Shop ist ein Antrag eingegangen, die personenbezogenen Daten zu löschen, die wir "
                "unter der E-Mail-Adresse ada@example.com über Sie gespeichert haben.",
                "Dieser Link ist gültig bis 7. Dezember 2026, 15:05 MEZ.",
                "Kundenkonto: gelöscht. Zweck: Um Ihr Konto zu führen",
                "Bestellungen: pseudonymisiert:",
                "Newsletter: anonymisiert:",
                "Rechnungspositionen: aufbewahrt, weil das Gesetz es verlangt. "
                "Rechnungen werden 10 Jahre für das Finanzamt aufbewahrt.",
                "Supportanfragen: aufbewahrt, weil wir diese Daten zur Erfüllung eines Vertrags mit Ihnen "
                "benötigen. 2 Jahre wegen Gewährleistung.",
            ],
        ),
    ],
)
def test_verify_page_names_the_brand_and_says_what_happens_by_title(
    locale: str, button: str, facts: list[str]
) -> None:
    html = page("verify", locale)
    text = text_of(html)
    for fact in facts:
        assert fact in text
    # Customers read titles, never the systems' names for their tables.
    for internal in ("crm", "order_items", "customers", "loyalty"):
        assert internal not in text
    # Only legal_obligation says the law requires it.
    assert text.count({"en": "law requires", "de": "Gesetz es verlangt"}[locale]) == 1
    tags = tags_of(html)
    forms = [attrs for tag, attrs in tags if tag == "form"]
    assert forms == [{"method": "post", "action": "/v1/verify"}]
    hidden = [attrs for tag, attrs in tags if tag == "input"]
    assert hidden == [{"type": "hidden", "name": "token", "value": "tok-123"}]
    assert re.search(rf'<button type="submit"[^>]*>{button}</button>', html)


def test_verify_page_without_entities_explains_in_general() -> None:
    html = page("verify", "en", entities=[], email=None, expires_at=None)
    assert "We erase your customer account" in html
    assert "Nordwind Shop received a request to erase the personal data it holds about you." in html
    assert "works until" not in html


def test_an_entity_without_a_title_is_named_by_its_entity_not_its_table() -> None:
    html = page("verify", "en", entities=[{"source": "crm", "entity": "orders", "erase": "delete"}])
    assert "<strong>orders</strong>: erased." in " ".join(html.split())


def test_hostile_input_is_escaped() -> None:
    hostile = '"><script>alert(1)</script>'
    html = page(
        "verify",
        "en",
        token=hostile,
        email=hostile,
        entities=[
            {"source": hostile, "entity": hostile, "title": hostile, "erase": "keep", "retention": hostile}
        ],
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    hidden = [attrs for tag, attrs in tags_of(html) if tag == "input"]
    assert hidden[0]["value"] == hostile  # the browser gets the token back intact, as an attribute value
    assert "<script>" not in page("verified", "de", email=hostile)
    assert "<script>" not in page("verify", "de", brand=Brand(name=hostile, controller_address=hostile))


def test_verified_page_names_the_address() -> None:
    assert "ada@example.com" in page("verified", "en")
    assert "Ihr Löschantrag ist bestätigt" in page("verified", "de", email=None)


@pytest.mark.parametrize(
    ("name", "en", "de"),
    [
        ("not_found", "already been used", "bereits verwendet"),
        ("expired", "nothing has been erased", "nichts gelöscht"),
        ("error", "Something went wrong", "schiefgelaufen"),
        ("download_not_found", "This download link is not valid", "Link zum Herunterladen ist ungültig"),
        ("download_gone", "this one has expired", "dieser ist abgelaufen"),
    ],
)
def test_status_pages_in_both_languages(name: str, en: str, de: str) -> None:
    assert en in page(name, "en")
    assert de in page(name, "de")


@pytest.mark.parametrize(
    ("reason", "says", "again"),
    [
        ("expired", "this one has expired", True),
        ("erased", "Your personal data has been erased since we sent this link", False),
        ("unavailable", "is no longer available", True),
    ],
)
def test_a_dead_download_link_says_why(reason: str, says: str, again: bool) -> None:
    html = page("download_gone", "en", reason=reason)
    assert says in html
    # After an erasure there is nothing left to ask a copy of.
    assert ("make your request again" in html) is again


@pytest.mark.parametrize(
    ("progress", "en", "de"),
    [
        ("working", "We email you when we have finished.", "sobald wir fertig sind"),
        ("done", "We have carried out your deletion request.", "Wir haben Ihren Löschantrag ausgeführt."),
        ("written", "We have written to you by email", "eine E-Mail geschrieben"),
    ],
)
def test_a_used_confirmation_link_says_where_the_deletion_is(progress: str, en: str, de: str) -> None:
    assert "You have already confirmed this deletion" in page("already_confirmed", "en", progress=progress)
    assert en in page("already_confirmed", "en", progress=progress)
    assert "Sie haben diese Löschung bereits bestätigt" in page("already_confirmed", "de", progress=progress)
    assert de in page("already_confirmed", "de", progress=progress)


def test_unknown_locale_falls_back_to_english() -> None:
    assert '<html lang="en">' in page("expired", "fr")


def test_verify_page_needs_its_token() -> None:
    with pytest.raises(ValueError, match="token"):
        render_page("verify", "en", {"verify_action": "/v1/verify"}, brand=BRAND)
    with pytest.raises(ValueError, match="unknown page"):
        render_page("nope", "en", {}, brand=BRAND)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Chromium, Firefox
        ("application/xhtml+xml", True),
        ("application/json", False),
        ("*/*", False),
        (None, False),
        ("", False),
        ("text/html;q=0", False),
        ("text/html;q=nonsense", False),
    ],
)
def test_a_browser_is_told_from_an_api_client(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,de;q=0.5", "de"),
        ("en;q=0.3,de", "de"),
        ("de_AT", "de"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
        ("<script>", "en"),
    ],
)
def test_the_browser_language_is_the_best_of_ours(header: str | None, locale: str) -> None:
    assert preferred_locale(header) == locale


def test_security_headers() -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    for directive in (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"
