import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from app.core import clock
from app.notifications import KINDS, RenderedEmail, render_email

from .factories import DOWNLOAD_URL, VERIFY_URL, make_context, make_request

# What a reader must find in both parts of each kind, per language.
FACTS: dict[str, dict[str, list[str]]] = {
    "access_acknowledged": {
        "en": ["by 30 December 2026", "within 30 days", "one month"],
        "de": ["bis zum 30. Dezember 2026", "innerhalb von 30 Tagen", "eines Monats"],
    },
    "deletion_confirmation": {
        "en": [VERIFY_URL, "7 December 2026, 14:05 UTC", "did not ask for this, ignore this email"],
        "de": [VERIFY_URL, "7. Dezember 2026, 14:05 Uhr (UTC)", "ignorieren Sie diese E-Mail"],
    },
    "data_ready": {
        "en": [DOWNLOAD_URL, "until 7 December 2026, 14:05 UTC"],
        "de": [DOWNLOAD_URL, "gültig bis 7. Dezember 2026, 14:05 Uhr (UTC)"],
    },
    "access_fulfilled": {
        "en": ["Sent on a USB stick by registered mail", "rather than through a download link"],
        "de": ["Sent on a USB stick by registered mail", "nicht über einen Download-Link"],
    },
    "deletion_completed": {
        "en": [
            "Erased",
            "crm / customers",
            "Anonymised",
            "crm / orders (3 records)",
            "crm / order_items (7 records): Invoices are kept 7 years for tax law",
        ],
        "de": [
            "Gelöscht",
            "crm / customers",
            "Anonymisiert",
            "crm / orders (3 Datensätze)",
            "crm / order_items (7 Datensätze): Invoices are kept 7 years for tax law",
        ],
    },
    "request_declined": {
        "en": [
            "We could not identify you from the details given",
            "complaint with a data protection supervisory authority",
        ],
        "de": [
            "We could not identify you from the details given",
            "Datenschutz-Aufsichtsbehörde zu beschweren",
        ],
    },
    "deadline_extended": {
        "en": ["by 28 February 2027", "We could not identify you from the details given"],
        "de": ["bis zum 28. Februar 2027", "We could not identify you from the details given"],
    },
    "confirmation_expired": {
        "en": ["expired", "We have not erased anything", "ask again"],
        "de": ["abgelaufen", "Wir haben nichts gelöscht", "erneut"],
    },
    "due_soon": {
        "en": ["within 7 days", "/v1/privacy-requests/"],
        "de": ["innerhalb von 7 Tagen", "/v1/privacy-requests/"],
    },
    "overdue": {
        "en": ["past their due date", "/v1/privacy-requests/"],
        "de": ["überschritten", "/v1/privacy-requests/"],
    },
    "request_failed": {
        "en": ["crm: legal hold on the customer's account", "/v1/privacy-requests/"],
        "de": ["crm: legal hold on the customer's account", "/v1/privacy-requests/"],
    },
}


def visible(html: str) -> str:
    """What a reader of the HTML part sees: tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html))


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
    context = make_context(request=make_request(locale=locale))
    rendered = render_email(kind, locale, context)
    visible_html = visible(rendered.html)
    for fact in FACTS[kind][locale]:
        assert fact in rendered.text, f"{fact!r} missing from the text part"
        # A link may be only in an href; everything else must be readable text.
        assert fact in visible_html or fact in unescape(rendered.html), f"{fact!r} missing from the HTML part"
    assert f'<html lang="{locale}">' in rendered.html
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert len(rendered.subject) <= 100
    assert f"<title>{rendered.subject}</title>" in unescape(rendered.html)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_request_id_is_in_every_email(kind: str) -> None:
    request = make_request()
    rendered = render_email(kind, "en", make_context(request=request, requests=[request]))
    assert str(request["id"]) in rendered.text
    assert str(request["id"]) in rendered.html


def test_subjects_are_specific() -> None:
    context = make_context(request=make_request(type="deletion"))
    assert render_email("deletion_confirmation", "en", context).subject == "Confirm the deletion of your data"
    assert (
        render_email("deletion_confirmation", "de", context).subject
        == "Bitte bestätigen Sie die Löschung Ihrer Daten"
    )
    assert (
        render_email("request_declined", "de", context).subject
        == "Wir können Ihren Löschantrag nicht ausführen"
    )
    access = make_context(request=make_request(type="access"))
    assert (
        render_email("request_declined", "de", access).subject
        == "Wir können Ihr Auskunftsersuchen nicht ausführen"
    )


def test_unknown_locale_falls_back_to_english() -> None:
    rendered = render_email("access_acknowledged", "fr", make_context())
    assert "by 30 December 2026" in rendered.text
    assert '<html lang="en">' in rendered.html


def test_regional_locale_uses_its_language() -> None:
    rendered = render_email("access_acknowledged", "de-AT", make_context())
    assert "bis zum 30. Dezember 2026" in rendered.text


def test_ccpa_acknowledgement_promises_45_days() -> None:
    rendered = render_email(
        "access_acknowledged", "en", make_context(request=make_request(regulation="ccpa"))
    )
    assert "within 45 days as the CCPA requires" in rendered.text
    assert "GDPR" not in rendered.text


def test_declined_ccpa_names_the_californian_authority() -> None:
    rendered = render_email("request_declined", "en", make_context(request=make_request(regulation="ccpa")))
    assert "California Privacy Protection Agency" in rendered.text


def test_hostile_input_is_escaped_in_html_and_verbatim_in_text() -> None:
    hostile = '<script>alert("x")</script>'
    request = make_request(email=f"{hostile}@example.com")
    for kind in sorted(KINDS):
        rendered = render_email(
            kind, "en", make_context(request=request, reason=hostile, note=hostile, error=hostile)
        )
        assert "<script>" not in rendered.html, kind
    declined = render_email("request_declined", "en", make_context(reason=hostile))
    assert "&lt;script&gt;" in declined.html
    assert hostile in declined.text


def test_hostile_subject_cannot_inject_headers() -> None:
    # The subject of team alerts carries the request id; even a forged one stays on one line.
    request = make_request() | {"id": "x\r\nBcc: victim@example.com"}
    rendered = render_email("request_failed", "en", make_context(request=request))
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


def test_access_fulfilled_without_note() -> None:
    rendered = render_email("access_fulfilled", "en", make_context(note=None))
    assert "Note from our privacy team" not in rendered.text
    minimal = {"request": make_request()}
    assert "Note from" not in render_email("access_fulfilled", "en", minimal).text


def test_deletion_confirmation_lists_entities_when_given() -> None:
    entities = [
        {"source": "crm", "entity": "customers", "erase": "delete", "retention": None},
        {"source": "crm", "entity": "order_items", "erase": "keep", "retention": "Invoices: 7 years"},
    ]
    rendered = render_email("deletion_confirmation", "en", make_context(entities=entities))
    assert "- crm / customers: erased" in rendered.text
    assert "- crm / order_items: kept (Invoices: 7 years)" in rendered.text


def test_due_soon_lists_days_left_from_the_clock() -> None:
    soon = make_request(due_at=datetime(2026, 12, 4, 18, tzinfo=UTC))  # 3 days 6 hours after the frozen clock
    later = make_request(due_at=datetime(2026, 12, 8, 9, tzinfo=UTC))
    rendered = render_email(
        "due_soon", "en", make_context(requests=[later, soon], threshold=timedelta(days=7))
    )
    assert rendered.subject == "2 privacy requests due within 7 days"
    assert "3 days left" in rendered.text
    assert rendered.text.index(str(soon["id"])) < rendered.text.index(str(later["id"]))
    assert f"https://privacy.example.com/v1/privacy-requests/{soon['id']}" in rendered.text


def test_overdue_says_how_late() -> None:
    late = make_request(due_at=datetime(2026, 11, 28, 12, tzinfo=UTC))
    rendered = render_email("overdue", "en", make_context(requests=[late]))
    assert rendered.subject == "1 privacy request overdue"
    assert "3 days overdue" in rendered.text
    assert "seit 3 Tagen überfällig" in render_email("overdue", "de", make_context(requests=[late])).text


def test_missing_context_key_is_named() -> None:
    with pytest.raises(ValueError, match="verify_url"):
        render_email(
            "deletion_confirmation", "en", {"request": make_request(), "expires_at": datetime.now(UTC)}
        )


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email kind"):
        render_email("newsletter", "en", make_context())


def test_rendered_email_is_frozen() -> None:
    rendered = render_email("confirmation_expired", "en", make_context())
    assert isinstance(rendered, RenderedEmail)
    with pytest.raises(AttributeError):
        rendered.subject = "changed"  # type: ignore[misc]


def test_deletion_confirmation_accepts_sources_describe_lines() -> None:
    # The shape of DataSources.describe(): an HTTP source without entities has entity None.
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
        rendered = render_email("deletion_confirmation", locale, make_context(entities=entities))
        assert "- loyalty: " in rendered.text
        assert "None" not in rendered.text
        assert "crm / orders" in rendered.html
