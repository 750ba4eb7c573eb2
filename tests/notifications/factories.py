"""Plain typed factories for email contexts: a realistic request, erasure report and source description, in
both languages, and the brand settings every email carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core.brand import Brand
from app.models import Email
from app.notifications.outbox import make_message_id

RECEIVED_AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
DUE_AT = datetime(2026, 12, 30, 9, 30, tzinfo=UTC)
EXPIRES_AT = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
PREVIOUS_DUE_AT = DUE_AT
NEW_DUE_AT = datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
BASE_URL = "https://privacy.example.com"
VERIFY_URL = f"{BASE_URL}/v1/verify?token=tok-verify-123"
DOWNLOAD_URL = f"{BASE_URL}/v1/downloads/tok-download-456"
TIMEZONE = "Europe/Berlin"

# The brand settings as the environment gives them (make_settings overrides), and as templates read them.
BRAND_SETTINGS: dict[str, str] = {
    "brand_name": "Nordlicht Mode",
    "brand_url": "https://nordlicht.example",
    "privacy_policy_url": "https://nordlicht.example/datenschutz",
    "controller_address": "Nordlicht Mode GmbH, Hafenstraße 12, 20457 Hamburg",
    "dpo_email": "datenschutz@nordlicht.example",
    "supervisory_authority": "Hamburgische Beauftragte für Datenschutz und Informationsfreiheit, https://datenschutz-hamburg.de",
}
BRAND = Brand(
    name=BRAND_SETTINGS["brand_name"],
    url=BRAND_SETTINGS["brand_url"],
    privacy_policy_url=BRAND_SETTINGS["privacy_policy_url"],
    controller_address=BRAND_SETTINGS["controller_address"],
    dpo_email=BRAND_SETTINGS["dpo_email"],
    authority_name="Hamburgische Beauftragte für Datenschutz und Informationsfreiheit",
    authority_url="https://datenschutz-hamburg.de",
)

# Texts an operator or a source wrote (in English here): quoted as they are, in any language.
NOTE = "Sent on a USB stick by registered mail"
REASON = "We could not identify you from the details given"
REFUSAL = "Legal hold: an open court case about order 1042"
ERROR = "crm: legal hold on the customer's account"
# An operator's one-time sign-in link to the cockpit, and the operator's name.
OPERATOR_NAME = "Grace Hopper"
SIGN_IN_URL = f"{BASE_URL}/cockpit/sign-in/link?token=tok-sign-in-789"
# A manual source's owner's instructions and the customer's name, quoted as configured and as on file.
INSTRUCTIONS = "Find the folder by customer id in the paper archive and shred it"
CUSTOMER_NAME = "Ada Lovelace"


# A recipient of the customer's data (GDPR Art. 19), and the customer as it knows them.
RECIPIENT = "Postfalke GmbH"
CUSTOMER_ID = "cus_1"


def _text(en: str, de: str) -> dict[str, str]:
    return {"en": en, "de": de}


# An erasure report as a processed deletion stores it (section 6 and the issue 10 interface).
REPORT: dict[str, Any] = {
    "sources": {
        "crm": {
            "customers": {
                "action": "deleted",
                "count": 1,
                "title": _text("Customer account", "Kundenkonto"),
                "basis": None,
                "retention": None,
                "pseudonymised": False,
            },
            "newsletter": {
                "action": "deleted",
                "count": 0,
                "title": _text("Newsletter subscription", "Newsletter-Abonnement"),
                "basis": None,
                "retention": None,
                "pseudonymised": False,
            },
            "orders": {
                "action": "anonymized",
                "count": 3,
                "title": _text("Orders", "Bestellungen"),
                "basis": None,
                "retention": None,
                "pseudonymised": True,
            },
            "reviews": {
                "action": "anonymized",
                "count": 2,
                "title": _text("Product reviews", "Produktbewertungen"),
                "basis": None,
                "retention": None,
                "pseudonymised": False,
            },
            "order_items": {
                "action": "kept",
                "count": 7,
                "reason": "Invoice lines are kept 10 years for tax law",
                "title": _text("Invoice lines", "Rechnungspositionen"),
                "basis": "legal_obligation",
                "retention": _text(
                    "10 years after the end of the calendar year of the invoice",
                    "10 Jahre nach Ende des Kalenderjahres der Rechnung",
                ),
                "pseudonymised": False,
            },
            "returns": {
                "action": "kept",
                "count": 0,
                "title": _text("Returns", "Retouren"),
                "basis": "legal_obligation",
                "retention": None,
                "pseudonymised": False,
            },
        }
    },
    # Those the brand passed the data to, asked to erase it too (GDPR Art. 19).
    "recipients": [
        {
            "name": RECIPIENT,
            "purpose": _text("Printing and posting our catalogue", "Druck und Versand unseres Katalogs"),
        },
        {"name": "Lagerhaus Nord", "purpose": None},
    ],
}

# What sources.describe() gives the deletion confirmation.
ENTITIES: list[dict[str, Any]] = [
    {
        "source": "crm",
        "entity": "customers",
        "title": _text("Customer account", "Kundenkonto"),
        "purpose": _text("Managing your customer account", "Verwaltung Ihres Kundenkontos"),
        "erase": "delete",
        "pseudonymised": False,
        "retention": None,
        "retention_basis": None,
    },
    {
        "source": "crm",
        "entity": "orders",
        "title": _text("Orders", "Bestellungen"),
        "purpose": None,
        "erase": "anonymize",
        "pseudonymised": True,
        "retention": None,
        "retention_basis": None,
    },
    {
        "source": "crm",
        "entity": "order_items",
        "title": _text("Invoice lines", "Rechnungspositionen"),
        "purpose": _text("Bookkeeping", "Buchhaltung"),
        "erase": "keep",
        "pseudonymised": False,
        "retention": _text(
            "10 years after the end of the calendar year of the invoice",
            "10 Jahre nach Ende des Kalenderjahres der Rechnung",
        ),
        "retention_basis": "legal_obligation",
    },
]


def make_request(
    *,
    type: str = "access",
    regulation: str = "gdpr",
    email: str | None = "ada@example.com",
    locale: str = "en",
    status: str = "pending",
    received_at: datetime = RECEIVED_AT,
    due_at: datetime = DUE_AT,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),  # as email_context gives it
        "type": type,
        "status": status,
        "regulation": regulation,
        "email": email,
        "received_at": received_at,
        "due_at": due_at,
        "locale": locale,
    }


# The manual sources searched (access) or erased (deletion) by hand, as a report carries them.
MANUAL: list[dict[str, Any]] = [{"source": "paper_archive", "title": _text("Paper archive", "Papierarchiv")}]


def make_context(**overrides: Any) -> dict[str, Any]:
    """A context carrying every key any kind needs."""
    request = overrides.pop("request", None) or make_request()
    context: dict[str, Any] = {
        "request": request,
        "base_url": BASE_URL,
        "verify_url": VERIFY_URL,
        "download_url": DOWNLOAD_URL,
        "expires_at": EXPIRES_AT,
        "entities": ENTITIES,
        "note": NOTE,
        "report": REPORT,
        "reason": REASON,
        "reasons": [REFUSAL],
        "new_due_at": NEW_DUE_AT,
        "previous_due_at": PREVIOUS_DUE_AT,
        "requests": [request],
        "threshold": timedelta(days=7),
        "error": ERROR,
        "name": OPERATOR_NAME,
        "sign_in_url": SIGN_IN_URL,
        "link_ttl": timedelta(minutes=15),
        "identifiers": {"email": "ada@example.com", "customer_id": CUSTOMER_ID},
        "received": [_text("Orders", "Bestellungen"), _text("Customer account", "Kundenkonto")],
        "erased_at": EXPIRES_AT,
        "customer": {"id": "cus_0001", "email": "ada@example.com", "name": CUSTOMER_NAME},
        "source": "paper_archive",
        "instructions": INSTRUCTIONS,
        "task_url": f"{BASE_URL}/cockpit/requests/{request['id']}",
        "manual": MANUAL,
        "recipient": "Paketblitz AG",
        "owner_identifiers": "customer_id",
        "email_kind": "access_acknowledged",
    }
    context.update(overrides)
    return context


def make_email_row(
    *,
    subject: str = "Bitte bestätigen Sie die Löschung Ihrer Daten",
    text: str = "Grüße – bitte bestätigen: https://privacy.example.com/v1/verify?token=abc\n",
    html: str = '<p>Grüße – <a href="https://privacy.example.com/v1/verify?token=abc">bestätigen</a></p>\n',
    locale: str = "de",
) -> Email:
    """An outbox row as the service stores it, its bodies open (as the sender reads them)."""
    email_id = uuid.uuid4()
    return Email(
        id=email_id,
        message_id=make_message_id(email_id, "example.com"),
        kind="deletion_confirmation",
        to_address="ada@example.com",
        locale=locale,
        subject=subject,
        text_body=text,
        html_body=html,
        request_id=None,
        status="pending",
        created_at=datetime(2026, 11, 30, 9, 30, tzinfo=UTC),
        sent_at=None,
    )
