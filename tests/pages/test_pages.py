import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from app.pages import PAGES, SECURITY_HEADERS, render_page

ENTITIES: list[dict[str, Any]] = [
    {
        "source": "crm",
        "entity": "customers",
        "erase": "delete",
        "purpose": "Customer account",
        "retention": None,
    },
    {"source": "crm", "entity": "orders", "erase": "anonymize", "purpose": None, "retention": None},
    {
        "source": "crm",
        "entity": "order_items",
        "erase": "keep",
        "retention": "Invoices are kept 7 years for tax law",
    },
    {"source": "loyalty", "entity": None, "erase": "delete", "retention": None},
]


def verify_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "token": "tok-123",
        "verify_action": "/v1/verify",
        "email": "ada@example.com",
        "expires_at": datetime(2026, 12, 7, 14, 5, tzinfo=UTC),
        "entities": ENTITIES,
    }
    return context | overrides


class FormFinder(HTMLParser):
    """Collects the forms, inputs and buttons a browser would see."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    finder = FormFinder()
    finder.feed(html)
    return finder.tags


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_renders_accessibly(name: str, locale: str) -> None:
    html = render_page(name, locale, verify_context())
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{locale}">' in html
    assert html.count("<main>") == 1
    assert html.count("<h1>") == 1
    assert re.search(r"<title>[^<]+</title>", html)
    # No scripts and nothing loaded from anywhere (the CSP forbids it too).
    assert "<script" not in html
    assert "<link" not in html
    assert "<img" not in html
    assert "src=" not in html


@pytest.mark.parametrize(
    ("locale", "button", "facts"),
    [
        (
            "en",
            "Confirm deletion",
            [
                "ada@example.com",
                "7 December 2026, 14:05 UTC",
                "erased",
                "anonymised",
                "Invoices are kept 7 years for tax law",
            ],
        ),
        (
            "de",
            "Löschung bestätigen",
            [
                "ada@example.com",
                "7. Dezember 2026, 14:05 Uhr (UTC)",
                "wird gelöscht",
                "wird anonymisiert",
                "Invoices are kept 7 years for tax law",
            ],
        ),
    ],
)
def test_verify_page_says_what_is_erased_and_carries_the_form(
    locale: str, button: str, facts: list[str]
) -> None:
    html = render_page("verify", locale, verify_context())
    for fact in facts:
        assert fact in html
    assert "crm / order_items" in html
    assert "loyalty" in html
    assert "loyalty / None" not in html
    tags = tags_of(html)
    forms = [attrs for tag, attrs in tags if tag == "form"]
    assert forms == [{"method": "post", "action": "/v1/verify"}]
    hidden = [attrs for tag, attrs in tags if tag == "input"]
    assert hidden == [{"type": "hidden", "name": "token", "value": "tok-123"}]
    assert re.search(rf'<button type="submit"[^>]*>{button}</button>', html)


def test_verify_page_without_entities_explains_in_general() -> None:
    html = render_page("verify", "en", verify_context(entities=[], email=None, expires_at=None))
    assert "customer account" in html
    assert "works until" not in html


def test_hostile_input_is_escaped() -> None:
    hostile = '"><script>alert(1)</script>'
    html = render_page(
        "verify",
        "en",
        verify_context(
            token=hostile,
            email=hostile,
            entities=[{"source": hostile, "entity": hostile, "erase": "keep", "retention": hostile}],
        ),
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    hidden = [attrs for tag, attrs in tags_of(html) if tag == "input"]
    assert hidden[0]["value"] == hostile  # the browser gets the token back intact, as an attribute value
    assert "<script>" not in render_page("verified", "de", {"email": hostile})


def test_verified_page_names_the_address() -> None:
    assert "ada@example.com" in render_page("verified", "en", {"email": "ada@example.com"})
    assert "Ihr Löschantrag ist bestätigt" in render_page("verified", "de", {})


@pytest.mark.parametrize(
    ("name", "en", "de"),
    [
        ("not_found", "already been used", "bereits verwendet"),
        ("expired", "nothing has been erased", "nichts gelöscht"),
        ("already_confirmed", "already confirmed", "bereits bestätigt"),
        ("error", "Something went wrong", "schiefgelaufen"),
    ],
)
def test_status_pages_in_both_languages(name: str, en: str, de: str) -> None:
    assert en in render_page(name, "en", {})
    assert de in render_page(name, "de", {})


def test_unknown_locale_falls_back_to_english() -> None:
    assert '<html lang="en">' in render_page("expired", "fr", {})


def test_verify_page_needs_its_token() -> None:
    with pytest.raises(ValueError, match="token"):
        render_page("verify", "en", {"verify_action": "/v1/verify"})
    with pytest.raises(ValueError, match="unknown page"):
        render_page("nope", "en", {})


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
