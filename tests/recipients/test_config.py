"""The ``recipients:`` list of SOURCES_FILE: a bad entry fails start-up with one line naming the file, the line
and the field; the demo's recipients load."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.demo import create_demo
from app.sources import SourcesFileError
from app.sources.config import load_sources

from ..processing.world import write_world
from .conftest import WEBHOOK_SECRET

ENV = {"PAKETBLITZ_SECRET": WEBHOOK_SECRET}


def sources_with(tmp_path: Path, recipients: str) -> Path:
    return write_world(tmp_path / "world", extra=recipients)


def line_of(path: Path, fragment: str) -> int:
    """The line of the first ``fragment`` in the recipients list (the sources above have their own fields)."""
    lines = path.read_text().splitlines()
    start = lines.index("recipients:") if "recipients:" in lines else 0
    return next(n for n, line in enumerate(lines[start:], start + 1) if fragment in line)


def test_recipients_load(tmp_path: Path) -> None:
    path = sources_with(
        tmp_path,
        """recipients:
  - name: Postfalke GmbH
    email: privacy@postfalke.example
    entities: [support.newsletter]
    purpose: {en: Sends our newsletter, de: Versendet unseren Newsletter}
  - name: Paketblitz AG
    webhook: https://paketblitz.example/privacy
    secret_env: PAKETBLITZ_SECRET
    entities: [crm.orders]
    identifiers: [customer_id]
    language: de
""",
    )
    config = load_sources(path, env=ENV)
    newsletter, logistics = config.recipients
    assert (newsletter.name, newsletter.email, newsletter.entities) == (
        "Postfalke GmbH",
        "privacy@postfalke.example",
        ["support.newsletter"],
    )
    assert newsletter.identifiers == ["customer_id", "email"]
    assert newsletter.language == "en"
    assert (logistics.webhook, logistics.identifiers, logistics.language) == (
        "https://paketblitz.example/privacy",
        ["customer_id"],
        "de",
    )
    assert config.recipient_secrets == {"Paketblitz AG": WEBHOOK_SECRET}


@pytest.mark.parametrize(
    ("entry", "at", "field", "message"),
    [
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: [support.newsletters]\n",
            "entities:",
            "recipients[0].entities[0]",
            "unknown entity 'support.newsletters' (use source.entity as this file names them: crm.customers, "
            "crm.orders, support.newsletter, support.ticket_notes, support.tickets)",
        ),
        (
            "  - name: Postfalke GmbH\n    entities: [support.newsletter]\n",
            "name: Postfalke",
            "recipients[0]",
            "a recipient needs exactly one of email and webhook",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    webhook: https://x.example\n"
            "    entities: [support.newsletter]\n",
            "name: Postfalke",
            "recipients[0]",
            "a recipient needs exactly one of email and webhook",
        ),
        (
            "  - name: Postfalke GmbH\n    email: not-an-address\n    entities: [support.newsletter]\n",
            "email: not-an-address",
            "recipients[0].email",
            "must be an email address",
        ),
        (
            "  - name: Paketblitz AG\n    webhook: ftp://paketblitz.example\n    secret_env: PAKETBLITZ_SECRET\n"
            "    entities: [crm.orders]\n",
            "webhook: ftp",
            "recipients[0].webhook",
            "must be an http:// or https:// URL",
        ),
        (
            "  - name: Paketblitz AG\n    webhook: https://paketblitz.example\n    entities: [crm.orders]\n",
            "name: Paketblitz",
            "recipients[0]",
            "a webhook recipient needs secret_env (the variable holding its whsec_ secret)",
        ),
        (
            "  - name: Paketblitz AG\n    webhook: https://paketblitz.example\n    secret_env: NOT_SET_ANYWHERE\n"
            "    entities: [crm.orders]\n",
            "secret_env: NOT_SET",
            "recipients[0].secret_env",
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "  - name: Paketblitz AG\n    webhook: https://paketblitz.example\n    secret_env: WEAK_SECRET\n"
            "    entities: [crm.orders]\n",
            "secret_env: WEAK",
            "recipients[0].secret_env",
            "environment variable WEAK_SECRET must hold a whsec_ secret (whsec_ + base64 of 16+ bytes)",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: []\n",
            "entities: []",
            "recipients[0].entities",
            "List should have at least 1 item after validation, not 0",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: [support.newsletter]\n"
            "    identifiers: [phone]\n",
            "identifiers:",
            "recipients[0].identifiers[0]",
            "Input should be 'customer_id' or 'email'",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: [support.newsletter]\n"
            "    language: fr\n",
            "language: fr",
            "recipients[0].language",
            "unknown language 'fr' (use en or de)",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: [support.newsletter]\n"
            "    purpose: {en: Sends our newsletter}\n",
            "purpose:",
            "recipients[0].purpose",
            "needs a text in every language (en and de): de is missing",
        ),
        (
            "  - name: Postfalke GmbH\n    email: privacy@postfalke.example\n    entities: [support.newsletter]\n"
            "    mailbox: x\n",
            "mailbox: x",
            "recipients[0].mailbox",
            "unknown field",
        ),
        (
            "  - name: Postfalke GmbH\n    email: a@postfalke.example\n    entities: [support.newsletter]\n"
            "  - name: Postfalke GmbH\n    email: b@postfalke.example\n    entities: [support.newsletter]\n",
            "email: b@",
            "recipients[1].name",
            "duplicate recipient name 'Postfalke GmbH'",
        ),
    ],
)
def test_a_bad_recipient_fails_with_one_line(
    tmp_path: Path, entry: str, at: str, field: str, message: str
) -> None:
    path = sources_with(tmp_path, "recipients:\n" + entry)
    with pytest.raises(SourcesFileError) as raised:
        load_sources(path, env={**ENV, "WEAK_SECRET": "hunter2"})
    line = line_of(path, at) if field != "recipients[1].name" else line_of(path, at) - 1
    assert str(raised.value) == f"{path}:{line}: {field}: {message}"
    assert "\n" not in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_recipients_must_be_a_list(tmp_path: Path) -> None:
    path = sources_with(tmp_path, "recipients: Postfalke GmbH\n")
    with pytest.raises(SourcesFileError) as raised:
        load_sources(path, env=ENV)
    assert (
        str(raised.value)
        == f"{path}:{line_of(path, 'recipients:')}: recipients: must be a list of recipients"
    )


def test_the_demo_recipients_load_and_its_webhook_one_when_uncommented(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    create_demo(demo)
    config = load_sources(demo / "sources.yaml", env={})
    assert [(r.name, r.email, r.entities) for r in config.recipients] == [
        ("Postfalke Newsletter GmbH", "privacy@postfalke.example", ["crm.newsletter_subscriptions"])
    ]
    text = (demo / "sources.yaml").read_text()
    begin, end = text.index("# RECIPIENT-WEBHOOK-BEGIN\n"), text.index("# RECIPIENT-WEBHOOK-END\n")
    block = text[begin:end].splitlines()[1:]
    assert all(line.startswith("# ") for line in block)
    enabled = text[:begin] + "".join(line[2:] + "\n" for line in block) + text[end:]
    (demo / "with_webhook.yaml").write_text(enabled)
    config = load_sources(demo / "with_webhook.yaml", env={"DHL_WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert [(r.name, r.webhook) for r in config.recipients][1] == (
        "DHL (parcel delivery)",
        "http://127.0.0.1:9200/privacy/erasures",
    )
