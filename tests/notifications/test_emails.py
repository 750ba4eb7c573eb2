"""Each email kind rendered in English and German: what a reader must find, what must never be there."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest

from app.core import clock
from app.core.brand import Brand
from app.notifications import KINDS, TEAM_KINDS, RenderedEmail, render_email

from .factories import (
    BRAND,
    DOWNLOAD_URL,
    ERROR,
    INSTRUCTIONS,
    NOTE,
    REASON,
    REFUSAL,
    REPORT,
    SIGN_IN_URL,
    TIMEZONE,
    VERIFY_URL,
    make_context,
    make_request,
)

AUTHORITY = "Hamburgische Beauftragte für Datenschutz und Informationsfreiheit"
AUTHORITY_URL = "https://datenschutz-hamburg.de"

# What a reader must find in both parts of each kind, per language (brand set, TIMEZONE=Europe/Berlin).
FACTS: dict[str, dict[str, list[str]]] = {
    "access_acknowledged": {
        "en": [
            "received your request for a copy of the personal data we hold about ada@example.com",
            "We will answer by 30 December 2026 at the latest, 30 days after we received your request.",
        ],
        "de": [
            "Antrag auf Auskunft über die personenbezogenen Daten erhalten, die wir unter der E-Mail-Adresse ada@example.com über Sie speichern",
            "Wir antworten Ihnen spätestens bis zum 30. Dezember 2026, also innerhalb von 30 Tagen nach Eingang Ihres Antrags.",
        ],
    },
    "access_no_data": {
        "en": ["We searched our systems for personal data about ada@example.com and found none"],
        "de": ["und keine gefunden. Wir haben Ihnen daher nichts zu senden."],
    },
    "deletion_confirmation": {
        "en": [
            VERIFY_URL,
            "The link works until 7 December 2026, 15:05 CET.",
            "Customer account: will be erased. Purpose: Managing your customer account.",
            "Orders: will be pseudonymised. The records stay, with your details removed or replaced by a code; they could still be linked back to you.",
            "Invoice lines: will be kept. Purpose: Bookkeeping. The law requires us to keep these records. Retention: 10 years after the end of the calendar year of the invoice.",
            "If you did not ask for this, ignore this email",
        ],
        "de": [
            VERIFY_URL,
            "Der Link ist bis zum 7. Dezember 2026, 15:05 MEZ gültig.",
            "Kundenkonto: Wir löschen diese Daten. Zweck: Verwaltung Ihres Kundenkontos.",
            "Bestellungen: Wir pseudonymisieren diese Daten.",
            "Rechnungspositionen: Wir bewahren diese Daten auf. Zweck: Buchhaltung. Das Gesetz verpflichtet uns, diese Datensätze aufzubewahren. Aufbewahrungsdauer: 10 Jahre nach Ende des Kalenderjahres der Rechnung.",
            "ignorieren Sie diese E-Mail einfach",
        ],
    },
    "data_ready": {
        "en": [DOWNLOAD_URL, "The link works until 7 December 2026, 15:05 CET"],
        "de": [DOWNLOAD_URL, "Der Link ist bis zum 7. Dezember 2026, 15:05 MEZ gültig"],
    },
    "access_fulfilled": {
        "en": [NOTE, "rather than through a download link"],
        "de": [NOTE, "nicht über einen Download-Link"],
    },
    "deletion_completed": {
        "en": [
            "Customer account: 1 record",
            "Product reviews: 2 records",
            "Orders: 3 records",
            "Invoice lines: 7 records. The law requires us to keep these records. Retention: 10 years after the end of the calendar year of the invoice.",
            "We have passed some of your data on to others; we are asking them to erase it too:",
            "Postfalke GmbH: Printing and posting our catalogue",
            "Lagerhaus Nord",
        ],
        "de": [
            "Kundenkonto: 1 Datensatz",
            "Produktbewertungen: 2 Datensätze",
            "Bestellungen: 3 Datensätze",
            "Rechnungspositionen: 7 Datensätze. Das Gesetz verpflichtet uns, diese Datensätze aufzubewahren. Aufbewahrungsdauer: 10 Jahre nach Ende des Kalenderjahres der Rechnung.",
            "Wir haben einen Teil Ihrer Daten an andere weitergegeben; wir bitten sie, diese ebenfalls zu löschen:",
            "Postfalke GmbH: Druck und Versand unseres Katalogs",
            "Lagerhaus Nord",
        ],
    },
    "recipient_erasure_notice": {
        "en": [
            "A customer has asked us to erase their personal data, and on 7 December 2026 we did so (Art. 17 GDPR).",
            "as Art. 19 GDPR requires. Please erase it as well, including any copies",
            "Email address: ada@example.com",
            "Customer number: cus_1",
            "The data you received from us:",
            "Orders",
            "Customer account",
        ],
        "de": [
            "und wir haben das am 7. Dezember 2026 getan (Art. 17 DSGVO).",
            "wie es Art. 19 DSGVO verlangt. Bitte löschen Sie diese Daten ebenfalls, einschließlich aller Kopien",
            "E-Mail-Adresse: ada@example.com",
            "Kundennummer: cus_1",
            "Die Daten, die Sie von uns erhalten haben:",
            "Bestellungen",
            "Kundenkonto",
        ],
    },
    "deletion_refused": {
        "en": [REFUSAL, AUTHORITY, AUTHORITY_URL, "the right to seek a judicial remedy"],
        "de": [REFUSAL, AUTHORITY, AUTHORITY_URL, "einen gerichtlichen Rechtsbehelf einzulegen"],
    },
    "request_declined": {
        "en": [REASON, AUTHORITY, AUTHORITY_URL, "the right to seek a judicial remedy"],
        "de": [REASON, AUTHORITY, AUTHORITY_URL, "einen gerichtlichen Rechtsbehelf einzulegen"],
    },
    "deadline_extended": {
        "en": [
            "Instead of by 30 December 2026, we will now answer by 28 February 2027 at the latest.",
            REASON,
        ],
        "de": [
            "Statt bis zum 30. Dezember 2026 antworten wir Ihnen nun spätestens bis zum 28. Februar 2027.",
            REASON,
        ],
    },
    "confirmation_expired": {
        "en": ["the confirmation link has expired. We have not erased anything."],
        "de": ["der Bestätigungslink ist abgelaufen. Wir haben nichts gelöscht."],
    },
    "due_soon": {
        "en": ["fall due within 7 days", "/v1/privacy-requests/"],
        "de": ["höchstens 7 Tage", "/v1/privacy-requests/"],
    },
    "overdue": {
        "en": ["past their due date", "/v1/privacy-requests/"],
        "de": ["ihre Frist überschritten", "/v1/privacy-requests/"],
    },
    "request_failed": {
        "en": [ERROR, "/v1/privacy-requests/", "It is due 30 December 2026, 10:30 CET."],
        "de": [ERROR, "/v1/privacy-requests/", "Die Frist endet am 30. Dezember 2026, 10:30 MEZ."],
    },
    "operator_sign_in": {
        "en": [
            "Hello Grace Hopper,",
            "It works once, for 15 minutes (until 7 December 2026, 15:05 CET):",
            SIGN_IN_URL,
            "If you did not ask to sign in, ignore this email",
        ],
        "de": [
            "Hallo Grace Hopper,",
            "Er funktioniert einmal, 15 Minuten lang (bis 7. Dezember 2026, 15:05 MEZ):",
            SIGN_IN_URL,
            "ignorieren Sie diese E-Mail",
        ],
    },
    "access_searched_by_hand": {
        "en": [
            "we searched the systems connected to this service for personal data about ada@example.com and "
            "found none there, so there is no download for you.",
            "our staff searched them by hand:",
            "Paper archive",
            "Anything found there is not in this email; our privacy team will send it to you separately.",
        ],
        "de": [
            "Systeme nach personenbezogenen Daten zu ada@example.com durchsucht und dort keine gefunden.",
            "von Hand durchsucht:",
            "Papierarchiv",
            "unser Datenschutzteam schickt es Ihnen gesondert zu.",
        ],
    },
    "recipient_not_told": {
        "en": ["Paketblitz AG received data that deletion request", ERROR, "Tell them another way"],
        "de": ["Paketblitz AG hat Daten erhalten", ERROR, "auf anderem Weg"],
    },
    "email_not_delivered": {
        "en": [
            "The access_acknowledged email about request",
            "to the customer could not be delivered:",
            ERROR,
            "Reach them another way",
        ],
        "de": ["konnte nicht zugestellt werden", ERROR, "auf anderem Weg"],
    },
    "manual_step_not_opened": {
        "en": [
            "paper_archive is not connected to this service",
            "Its owner finds customers by customer_id only",
            "no task was opened and the owner was not emailed",
            "Find the customer there another way",
        ],
        "de": [
            "paper_archive ist nicht an diesen Dienst angeschlossen",
            "customer_id",
            "wurde keine Aufgabe angelegt",
        ],
    },
    "manual_task": {
        "en": [
            "What to do in paper_archive:",
            INSTRUCTIONS,
            "Customer id: cus_0001",
            "Name: Ada Lovelace",
            "Email address on file: ada@example.com",
            "The request must be answered by 30 December 2026, 10:30 CET",
            "/cockpit/requests/",
        ],
        "de": [
            "Was in paper_archive zu tun ist:",
            INSTRUCTIONS,
            "Kundennummer: cus_0001",
            "Hinterlegte E-Mail-Adresse: ada@example.com",
            "Der Antrag muss bis 30. Dezember 2026, 10:30 MEZ beantwortet sein",
            "/cockpit/requests/",
        ],
    },
}


def visible(html: str) -> str:
    """What a reader of the HTML part sees: tags dropped, entities decoded, lines joined."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def render(kind: str, locale: str = "en", **overrides: Any) -> RenderedEmail:
    """``kind`` with the brand and TIMEZONE set, as the outbox renders it."""
    context = make_context(**overrides)
    return render_email(kind, locale, context, brand=BRAND, timezone=TIMEZONE)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(datetime(2026, 12, 1, 12, tzinfo=UTC))
    yield
    clock.reset()


def test_every_kind_has_facts_to_check() -> None:
    assert set(FACTS) == KINDS


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_facts_are_in_both_parts(kind: str, locale: str) -> None:
    rendered = render(kind, locale, request=make_request(locale=locale))
    text = " ".join(rendered.text.split())
    for fact in FACTS[kind][locale]:
        assert fact in text, f"{fact!r} missing from the text part"
        # A link may be only in an href; everything else must be readable text.
        assert fact in visible(rendered.html) or fact in unescape(rendered.html), (
            f"{fact!r} missing from HTML"
        )
    assert f'<html lang="{locale}">' in rendered.html
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert len(rendered.subject) <= 100
    assert f"<title>{rendered.subject}</title>" in unescape(rendered.html)
    for leftover in ("None", "%(", "{{", "{%"):
        assert leftover not in rendered.text
        assert leftover not in rendered.html


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_email_carries_the_brand_in_its_footer(kind: str, locale: str) -> None:
    rendered = render(kind, locale)
    for field in (
        BRAND.name,
        BRAND.url,
        BRAND.privacy_policy_url,
        BRAND.controller_address,
        BRAND.dpo_email,
    ):
        assert field is not None
        footer = rendered.text.rsplit("\n--\n", 1)[1]
        assert field in footer, f"{field!r} missing from the text footer"
        assert field in visible(rendered.html), f"{field!r} missing from the HTML"
    assert "privacy team\n" not in rendered.text.lower()


@pytest.mark.parametrize(("locale", "closing"), [("en", "Kind regards,"), ("de", "Mit freundlichen Grüßen")])
@pytest.mark.parametrize("kind", sorted(KINDS - TEAM_KINDS))
def test_customer_emails_are_signed_by_the_brand(kind: str, locale: str, closing: str) -> None:
    rendered = render(kind, locale)
    assert f"{closing}\n{BRAND.name}\n" in rendered.text
    assert f"{closing}<br>{BRAND.name}" in rendered.html


@pytest.mark.parametrize("kind", sorted(KINDS - {"operator_sign_in"}))  # the one email about no request
def test_request_id_is_in_every_email(kind: str) -> None:
    request = make_request()
    rendered = render(kind, request=request, requests=[request])
    assert str(request["id"]) in rendered.text
    assert str(request["id"]) in rendered.html


def test_without_brand_settings_nothing_is_left_blank() -> None:
    rendered = render_email("request_declined", "de", make_context(), brand=Brand())
    assert "None" not in rendered.text
    assert "Verantwortlicher:" not in rendered.text
    assert "Mit freundlichen Grüßen\nIhr Datenschutzteam" in rendered.text
    # Without SUPERVISORY_AUTHORITY the rights are still stated.
    assert "Datenschutz-Aufsichtsbehörde zu beschweren" in rendered.text
    assert "gerichtlichen Rechtsbehelf" in rendered.text


def test_subjects_are_specific() -> None:
    deletion = make_request(type="deletion")
    assert render("deletion_confirmation", request=deletion).subject == "Confirm the deletion of your data"
    assert (
        render("deletion_confirmation", "de", request=deletion).subject
        == "Bitte bestätigen Sie die Löschung Ihrer Daten"
    )
    assert (
        render("request_declined", "de", request=deletion).subject
        == "Wir können Ihren Löschantrag nicht ausführen"
    )
    access = make_request(type="access")
    assert (
        render("request_declined", "de", request=access).subject
        == "Wir können Ihr Auskunftsersuchen nicht ausführen"
    )
    assert (
        render("request_declined", "en", request=access).subject == "We cannot carry out your access request"
    )
    assert (
        render("access_no_data", "de").subject == "Wir haben keine personenbezogenen Daten über Sie gefunden"
    )


def test_unknown_locale_falls_back_to_english() -> None:
    rendered = render("access_acknowledged", "fr")
    assert "by 30 December 2026" in rendered.text
    assert '<html lang="en">' in rendered.html


def test_regional_locale_uses_its_language() -> None:
    assert "bis zum 30. Dezember 2026" in render("access_acknowledged", "de-AT").text


@pytest.mark.parametrize(
    ("due_at", "en", "de"),
    [
        (
            datetime(2026, 12, 20, 9, 30, tzinfo=UTC),
            "by 20 December 2026 at the latest, 20 days after we received",
            "bis zum 20. Dezember 2026, also innerhalb von 20 Tagen",
        ),
        (
            datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
            "by 1 December 2026 at the latest, 1 day after we received",
            "bis zum 1. Dezember 2026, also innerhalb von 1 Tag nach",
        ),
    ],
)
def test_acknowledgement_states_the_actual_deadline(due_at: datetime, en: str, de: str) -> None:
    # REQUEST_DEADLINE shorter than 30 days: the email promises what the due date says, not a fixed 30 days.
    request = make_request(due_at=due_at)
    english = render("access_acknowledged", "en", request=request).text
    assert en in english
    assert "30 days" not in english
    assert de in render("access_acknowledged", "de", request=request).text


def test_dates_are_shown_in_timezone() -> None:
    # Due 31 January 23:30 UTC is 1 February 00:30 in Berlin.
    request = make_request(
        received_at=datetime(2026, 1, 1, 9, tzinfo=UTC), due_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    )
    berlin = render_email(
        "access_acknowledged", "de", make_context(request=request), brand=BRAND, timezone=TIMEZONE
    )
    assert "bis zum 1. Februar 2026" in berlin.text
    assert "bis zum 1. Februar 2026" in visible(berlin.html)
    utc = render_email(
        "access_acknowledged", "de", make_context(request=request), brand=BRAND, timezone="UTC"
    )
    assert "bis zum 31. Januar 2026" in utc.text
    expiring = render_email(
        "data_ready",
        "en",
        make_context(expires_at=datetime(2026, 1, 31, 23, 30, 12, 345678, tzinfo=UTC)),
        brand=BRAND,
        timezone=TIMEZONE,
    )
    # As a person writes it: minutes and the zone, no seconds or microseconds.
    assert "until 1 February 2026, 00:30 CET;" in expiring.text


def test_deletion_completed_lists_what_happened_under_its_true_name() -> None:
    english = render("deletion_completed", "en", request=make_request(type="deletion"))
    text = english.text
    # Entities with no records are not listed; titles, never tables or sources.
    for absent in ("Newsletter", "Returns", "0 records", "customers", "order_items", "crm"):
        assert absent not in text
        assert absent not in visible(english.html)
    pseudonymised = text.index(
        "Pseudonymised – the records stay, with your details removed or replaced by a code"
    )
    anonymised = text.index("Anonymised – the records stay, but nothing in them identifies you any more:")
    assert text.index("Orders: 3 records") > pseudonymised
    assert anonymised < text.index("Product reviews: 2 records") < pseudonymised
    # Nothing promised that the service does not do.
    assert "retention period ends" not in text
    assert "we delete" not in text.lower()
    german = render("deletion_completed", "de", request=make_request(type="deletion")).text
    assert "Pseudonymisiert – die Datensätze bleiben erhalten" in german
    assert "Aufbewahrungsfrist endet" not in german
    assert "0 Datensätze" not in german


def _kept(basis: str | None, retention: Any = None, reason: str | None = None) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "action": "kept",
        "count": 2,
        "title": {"en": "Loyalty points", "de": "Treuepunkte"},
        "basis": basis,
        "retention": retention,
        "pseudonymised": False,
    }
    if reason is not None:
        outcome["reason"] = reason
    return {"sources": {"crm": {"points": outcome}}}


@pytest.mark.parametrize(
    ("basis", "en", "de"),
    [
        ("legal_obligation", "The law requires us to keep these records.", "Das Gesetz verpflichtet uns"),
        (
            "contract",
            "We still need these records to fulfil our contract with you.",
            "um unseren Vertrag mit Ihnen zu erfüllen",
        ),
        (
            "legitimate_interest",
            "on the basis of our legitimate interests.",
            "auf Grundlage unserer berechtigten Interessen",
        ),
        ("consent", "on the basis of your consent.", "auf Grundlage Ihrer Einwilligung"),
    ],
)
def test_kept_data_is_explained_by_its_basis(basis: str, en: str, de: str) -> None:
    english = render("deletion_completed", "en", report=_kept(basis)).text
    assert f"Loyalty points: 2 records. {'The law' if basis == 'legal_obligation' else 'We'}" in english
    assert en in english
    assert ("law" in english) is (basis == "legal_obligation")
    assert de in render("deletion_completed", "de", report=_kept(basis)).text


def test_kept_data_without_a_basis_gives_the_retention_text_only() -> None:
    retention = {"en": "Until the points expire", "de": "Bis die Punkte verfallen"}
    english = render("deletion_completed", "en", report=_kept(None, retention)).text
    assert "- Loyalty points: 2 records. Retention: Until the points expire.\n" in english
    for claim in ("law", "contract", "legitimate", "consent"):
        assert claim not in english
    german = render("deletion_completed", "de", report=_kept(None, retention)).text
    assert "- Treuepunkte: 2 Datensätze. Aufbewahrungsdauer: Bis die Punkte verfallen.\n" in german
    bare = render("deletion_completed", "en", report=_kept(None)).text
    assert "- Loyalty points: 2 records\n" in bare


def test_deletion_completed_with_nothing_found() -> None:
    empty = {
        "sources": {"crm": {"customers": {"action": "deleted", "count": 0, "title": "Customer account"}}}
    }
    text = render("deletion_completed", "en", report=empty).text
    assert "We found no personal data about you to erase." in text
    assert "Erased:" not in text


def test_access_no_data_sends_no_link() -> None:
    rendered = render("access_no_data", "en")
    assert "/v1/downloads" not in rendered.text
    assert "/v1/downloads" not in rendered.html
    assert "download" not in rendered.text.lower()


def test_deletion_refused_lists_every_reason() -> None:
    text = render("deletion_refused", "en", reasons=[REFUSAL, "Open invoice dispute"]).text
    assert f"The reasons:\n- {REFUSAL}\n- Open invoice dispute\n" in text
    assert "The reason:\n" in render("deletion_refused", "en").text


def test_deadline_extended_without_the_previous_date() -> None:
    text = render("deadline_extended", "en", previous_due_at=None).text
    assert "We will now answer by 28 February 2027 at the latest." in text
    assert "Instead of" not in text


@pytest.mark.parametrize(
    ("regulation", "authority"),
    [("ccpa", "California Privacy Protection Agency"), ("lgpd", "(ANPD)")],
)
def test_declined_names_the_regulations_authority(regulation: str, authority: str) -> None:
    text = render("request_declined", "en", request=make_request(regulation=regulation)).text
    assert authority in text
    assert AUTHORITY not in text


def test_hostile_input_is_escaped_in_html_and_verbatim_in_text() -> None:
    hostile = '<script>alert("x")</script>'
    request = make_request(email=f"{hostile}@example.com")
    for kind in sorted(KINDS):
        rendered = render(
            kind, request=request, reason=hostile, note=hostile, error=hostile, reasons=[hostile]
        )
        assert "<script>" not in rendered.html, kind
    # Titles, purposes and retention texts come from SOURCES_FILE: escaped too, once.
    entities = [
        {
            "source": "crm",
            "entity": "x",
            "title": f"{hostile} & co",
            "purpose": hostile,
            "erase": "keep",
            "retention": hostile,
        }
    ]
    confirmation = render("deletion_confirmation", entities=entities)
    assert "<script>" not in confirmation.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co: will be kept." in confirmation.html
    report = {
        "sources": {"crm": {"x": {"action": "kept", "count": 1, "title": hostile, "retention": hostile}}}
    }
    assert "<script>" not in render("deletion_completed", report=report).html
    declined = render("request_declined", reason=hostile)
    assert "&lt;script&gt;" in declined.html
    assert hostile in declined.text


def test_hostile_subject_cannot_inject_headers() -> None:
    # The subject of team alerts carries the request id; even a forged one stays on one line.
    request = make_request() | {"id": "x\r\nBcc: victim@example.com"}
    rendered = render("request_failed", request=request)
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_access_fulfilled_without_note() -> None:
    assert "Note from" not in render("access_fulfilled", note=None).text
    minimal = {"request": make_request()}
    assert "Note from" not in render_email("access_fulfilled", "en", minimal).text


def test_deletion_confirmation_accepts_sources_describe_lines() -> None:
    # An HTTP source without entities has entity None and, before titles are configured, no title.
    entities = [
        {
            "source": "loyalty",
            "type": "http",
            "entity": None,
            "purpose": None,
            "categories": [],
            "erase": "delete",
        },
        {
            "source": "crm",
            "type": "sql",
            "entity": "orders",
            "erase": "anonymize",
            "anonymize": {"phone": "redact"},
        },
    ]
    for locale in ("en", "de"):
        rendered = render("deletion_confirmation", locale, entities=entities)
        assert "- loyalty: " in rendered.text
        assert "None" not in rendered.text
        assert "crm /" not in rendered.text


def test_deletion_confirmation_without_entities_promises_only_the_report() -> None:
    text = render("deletion_confirmation", "en", entities=None).text
    assert "Afterwards we tell you exactly what was erased, what was kept and why." in text


def test_due_soon_lists_days_left_from_the_clock() -> None:
    soon = make_request(due_at=datetime(2026, 12, 4, 18, tzinfo=UTC))  # 3 days 6 hours after the frozen clock
    later = make_request(due_at=datetime(2026, 12, 8, 9, tzinfo=UTC))
    rendered = render("due_soon", requests=[later, soon], threshold=timedelta(days=3))
    assert rendered.subject == "2 privacy requests due within 3 days"
    assert "3 days left" in rendered.text
    assert rendered.text.index(str(soon["id"])) < rendered.text.index(str(later["id"]))
    assert f"https://privacy.example.com/v1/privacy-requests/{soon['id']}" in rendered.text


def test_overdue_says_how_late() -> None:
    late = make_request(due_at=datetime(2026, 11, 28, 12, tzinfo=UTC))
    rendered = render("overdue", requests=[late])
    assert rendered.subject == "1 privacy request overdue"
    assert "3 days overdue" in rendered.text
    assert "seit 3 Tagen überfällig" in render("overdue", "de", requests=[late]).text


def test_missing_context_key_is_named() -> None:
    with pytest.raises(ValueError, match="verify_url"):
        render_email(
            "deletion_confirmation", "en", {"request": make_request(), "expires_at": datetime.now(UTC)}
        )
    with pytest.raises(ValueError, match="reasons"):
        render_email("deletion_refused", "en", {"request": make_request()})


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email kind"):
        render_email("newsletter", "en", make_context())


def test_rendered_email_is_frozen() -> None:
    rendered = render("confirmation_expired")
    assert isinstance(rendered, RenderedEmail)
    with pytest.raises(AttributeError):
        rendered.subject = "changed"  # type: ignore[misc]


def test_report_fixture_has_entities_with_no_records() -> None:
    # The facts above rely on the report holding entities with count 0 (which must not be listed).
    counts = [outcome["count"] for outcome in REPORT["sources"]["crm"].values()]
    assert 0 in counts
