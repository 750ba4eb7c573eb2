"""The sources file: every mistake is one line naming file, line and field."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from app.sources import DataSources, SourcesFileError
from app.sources.config import in_language

from .factories import SECRET, shop_yaml, write_sources

ENV = {"LOYALTY_AUTH": "Bearer x"}


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> DataSources:
    return DataSources.from_file(
        write_sources(tmp_path, text), secret_key=SECRET, env=ENV if env is None else env
    )


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(SourcesFileError) as caught:
        load(tmp_path, text, env)
    return str(caught.value)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def shop(tmp_path: Path) -> str:
    return shop_yaml(f"sqlite:///{tmp_path}/shop.db", http_url="http://127.0.0.1:9")


async def test_valid_file_loads_and_describes(tmp_path: Path) -> None:
    sources = load(tmp_path, shop(tmp_path))
    try:
        described = {(d["source"], d["entity"]): d for d in sources.describe()}
        assert described["crm", "orders"]["erase"] == "anonymize"
        assert described["crm", "orders"]["anonymize"] == {
            "address": "null",
            "phone": "redact",
            "email": "hash",
        }
        assert described["crm", "order_items"]["retention"] == "Invoice lines are kept 7 years for tax law"
        assert described["crm", "customers"]["purpose"] == "Customer account"
        assert described["loyalty", "points"]["purpose"] == "Loyalty programme"
    finally:
        await sources.aclose()


def test_unknown_strategy_names_file_line_and_field(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("erase: keep", "erase: shred")
    path = tmp_path / "sources.yaml"
    assert error_of(tmp_path, text) == (
        f"{path}:{line_of(text, 'erase: shred')}: sources[0].entities[2].erase: unknown strategy 'shred' "
        "(use delete, keep or {anonymize: {column: ...}})"
    )


def test_unknown_anonymization_is_named(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("phone: redact", "phone: scramble")
    message = error_of(tmp_path, text)
    assert f":{line_of(text, 'scramble')}: sources[0].entities[1].erase: column 'phone'" in message


def test_missing_field_points_at_its_entity(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("        table: order_items\n", "")
    message = error_of(tmp_path, text)
    assert message.endswith(
        f":{line_of(text, 'name: order_items')}: sources[0].entities[2].table: field required"
    )


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("    timeout: PT0.5S", "    timeout: PT0.5S\n    tiemout: PT1S")
    assert error_of(tmp_path, text).endswith(
        f":{line_of(text, 'tiemout')}: sources[1].tiemout: unknown field"
    )


def test_unknown_entity_in_match_is_rejected(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("orders.id", "ordres.id")
    assert error_of(tmp_path, text).endswith(
        f":{line_of(text, 'ordres.id')}: sources[0].entities[2].match.order_id: unknown entity 'ordres' in source 'crm'"
    )


def test_unknown_identity_in_match_is_rejected(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("match: {email: email}", "match: {email: phone}")
    assert "sources[0].entities[3].match.email: unknown match 'phone'" in error_of(tmp_path, text)


def test_cycle_is_rejected(tmp_path: Path) -> None:
    text = shop(tmp_path).replace(
        "match: {customer_id: customer_id}\n        erase: {anonymize",
        "match: {id: order_items.order_id}\n        erase: {anonymize",
    )
    message = error_of(tmp_path, text)
    assert "cycle between entities: orders -> order_items -> orders" in message
    assert re.search(r"sources\.yaml:\d+: sources\[0\]\.entities\[1\]\.match:", message)


def test_names_must_be_unique_and_lowercase(tmp_path: Path) -> None:
    duplicate = shop(tmp_path).replace("name: loyalty", "name: crm")
    assert error_of(tmp_path, duplicate).endswith(
        f":{line_of(duplicate, 'name: crm', 2)}: sources[1].name: duplicate source name 'crm'"
    )
    upper = shop(tmp_path).replace("name: loyalty", "name: Loyalty")
    assert "sources[1].name: must be a lowercase name" in error_of(tmp_path, upper)


def test_exactly_one_directory(tmp_path: Path) -> None:
    text = shop(tmp_path)
    without = re.sub(r"    directory:\n(      .*\n){4}", "", text)
    assert "exactly one sql source must have a directory" in error_of(tmp_path, without)


def test_keep_needs_retention(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("        retention: Invoice lines are kept 7 years for tax law\n", "")
    assert "sources[0].entities[2].erase: keep needs a retention reason" in error_of(tmp_path, text)


def test_sql_source_needs_url_or_url_env(tmp_path: Path) -> None:
    text = shop(tmp_path)
    url_line = next(line for line in text.splitlines() if line.startswith("    url: sqlite"))
    assert "sources[0]: a sql source needs exactly one of url and url_env" in error_of(
        tmp_path, text.replace(url_line + "\n", "")
    )
    with_env = text.replace(url_line, "    url_env: CRM_URL")
    assert "sources[0].url_env: environment variable CRM_URL is not set" in error_of(tmp_path, with_env)
    sources = load(tmp_path, with_env, {**ENV, "CRM_URL": f"sqlite:///{tmp_path}/shop.db"})
    assert sources.config.sql_urls["crm"] == f"sqlite:///{tmp_path}/shop.db"


def test_http_source_checks(tmp_path: Path) -> None:
    text = shop(tmp_path)
    no_placeholder = text.replace("/gdpr/customers/{customer_id}", "/gdpr/customers")
    assert "sources[1].url: must contain {customer_id} or {email}" in error_of(tmp_path, no_placeholder)
    bad_placeholder = text.replace("{customer_id}", "{phone}")
    assert "unknown placeholder {phone}" in error_of(tmp_path, bad_placeholder)
    assert "sources[1].headers_env.Authorization: environment variable LOYALTY_AUTH is not set" in error_of(
        tmp_path, text, env={}
    )
    bad_timeout = text.replace("timeout: PT0.5S", "timeout: 5s")
    assert error_of(tmp_path, bad_timeout).endswith(
        f":{line_of(bad_timeout, 'timeout: 5s')}: sources[1].timeout: '5s' is not an ISO 8601 duration such as P30D or PT12H"
    )


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = shop(tmp_path).replace("match: {id: customer_id}", "match: {id: customer_id")
    assert re.match(rf"^{re.escape(str(tmp_path))}/sources\.yaml:\d+: invalid YAML", error_of(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourcesFileError, match="cannot read the sources file"):
        DataSources.from_file(tmp_path / "nope.yaml", secret_key=SECRET)


# -- what customers read about each entity (contract section 8) ----------------------------------------------

DESCRIBED = """\
sources:
  - name: crm
    type: sql
    url: sqlite:///{db}
    directory: {{table: customers, id: id, email: email}}
    entities:
      - name: customers
        table: customers
        match: {{id: customer_id}}
        erase: delete
        title:
          en: Your customer account
          de: Ihr Kundenkonto
        purpose: {{en: To run your account, de: Zur Führung Ihres Kontos}}
        categories: [Name, {{en: Date of birth, de: Geburtsdatum}}]
        recipients:
          - {{en: Our hosting provider, de: Unser Hosting-Dienstleister}}
          - DHL
        retention: {{en: As long as you have an account, de: Solange Sie ein Konto haben}}
        retention_basis: contract
        source_of_data: {{en: You, de: Sie selbst}}
        automated_decisions: {{en: None, de: Keine}}
        transfers: {{en: "USA: Google LLC, under the Data Privacy Framework", de: "USA: Google LLC, auf Grundlage des Datenschutzrahmens"}}
      - name: orders
        table: orders
        match: {{customer_id: customer_id}}
        erase: keep
        retention: Kept 8 years (§ 147 AO)
        retention_basis: legal_obligation
"""


def described_file(tmp_path: Path) -> str:
    return DESCRIBED.format(db=tmp_path / "shop.db")


async def test_texts_per_language_and_the_art_15_fields_are_described(tmp_path: Path) -> None:
    sources = load(tmp_path, described_file(tmp_path))
    try:
        customers, orders = sources.describe()
    finally:
        await sources.aclose()
    assert customers == {
        "source": "crm",
        "type": "sql",
        "entity": "customers",
        "title": {"en": "Your customer account", "de": "Ihr Kundenkonto"},
        "purpose": {"en": "To run your account", "de": "Zur Führung Ihres Kontos"},
        "categories": ["Name", {"en": "Date of birth", "de": "Geburtsdatum"}],
        "recipients": [{"en": "Our hosting provider", "de": "Unser Hosting-Dienstleister"}, "DHL"],
        "retention": {"en": "As long as you have an account", "de": "Solange Sie ein Konto haben"},
        "retention_basis": "contract",
        "source_of_data": {"en": "You", "de": "Sie selbst"},
        "automated_decisions": {"en": "None", "de": "Keine"},
        "transfers": {
            "en": "USA: Google LLC, under the Data Privacy Framework",
            "de": "USA: Google LLC, auf Grundlage des Datenschutzrahmens",
        },
        "erase": "delete",
        "anonymize": {},
        "pseudonymised": False,
    }
    # A plain string is the text in every language; without a title the entity's name is shown, never the table.
    assert orders["title"] == "orders"
    assert orders["retention"] == "Kept 8 years (§ 147 AO)"
    assert orders["retention_basis"] == "legal_obligation"
    assert (orders["purpose"], orders["categories"], orders["transfers"]) == (None, [], None)


async def test_what_one_caller_changes_in_a_description_the_next_does_not_see(tmp_path: Path) -> None:
    sources = load(tmp_path, described_file(tmp_path))
    try:
        first = sources.describe()
        untouched = copy.deepcopy(sources.describe())
        customers = first[0]
        customers["title"]["en"] = "changed"
        customers["categories"].append("changed")
        customers["categories"][1]["de"] = "changed"
        customers["anonymize"]["email"] = "null"
        customers["purpose"] = None
        first.pop()
        assert sources.describe() == untouched
        assert sources.describe()[0]["title"] == {"en": "Your customer account", "de": "Ihr Kundenkonto"}
    finally:
        await sources.aclose()


def test_an_unknown_language_names_its_own_line(tmp_path: Path) -> None:
    text = described_file(tmp_path).replace("          de: Ihr Kundenkonto", "          fr: Votre compte")
    path = tmp_path / "sources.yaml"
    assert error_of(tmp_path, text) == (
        f"{path}:{line_of(text, 'fr: Votre compte')}: sources[0].entities[0].title.fr: "
        "unknown language 'fr' (use en and de)"
    )


def test_a_text_per_language_needs_every_language(tmp_path: Path) -> None:
    text = described_file(tmp_path).replace(", de: Zur Führung Ihres Kontos}", "}")
    assert error_of(tmp_path, text).endswith(
        f":{line_of(text, 'purpose:')}: sources[0].entities[0].purpose: "
        "needs a text in every language (en and de): de is missing"
    )
    empty = described_file(tmp_path).replace("de: Keine}", "de: ''}")
    assert error_of(tmp_path, empty).endswith(
        f":{line_of(empty, 'automated_decisions')}: sources[0].entities[0].automated_decisions.de: "
        "must be a non-empty text"
    )


def test_a_list_item_that_is_not_a_text_is_named(tmp_path: Path) -> None:
    text = described_file(tmp_path).replace("categories: [Name,", "categories: [42,")
    assert error_of(tmp_path, text).endswith(
        f":{line_of(text, 'categories: [42')}: sources[0].entities[0].categories[0]: "
        "must be a text, or one text per language: {en: ..., de: ...}"
    )


def test_an_unknown_retention_basis_is_named(tmp_path: Path) -> None:
    text = described_file(tmp_path).replace("retention_basis: legal_obligation", "retention_basis: tax_law")
    message = error_of(tmp_path, text)
    assert "\n" not in message
    assert message.endswith(
        f":{line_of(text, 'retention_basis: tax_law')}: sources[0].entities[1].retention_basis: "
        "unknown basis 'tax_law' (use legal_obligation, contract, legitimate_interest or consent)"
    )


async def test_http_entities_are_described_and_their_names_checked(tmp_path: Path) -> None:
    text = shop(tmp_path).replace(
        "        purpose: Loyalty programme\n",
        "        purpose: {en: Loyalty programme, de: Treueprogramm}\n        retention_basis: contract\n"
        "      - name: vouchers\n",
    )
    sources = load(tmp_path, text)
    try:
        described = {(d["source"], d["entity"]): d for d in sources.describe()}
    finally:
        await sources.aclose()
    assert described["loyalty", "points"]["purpose"] == {"en": "Loyalty programme", "de": "Treueprogramm"}
    assert described["loyalty", "points"]["retention_basis"] == "contract"
    assert described["loyalty", "vouchers"]["title"] == "vouchers"
    assert described["loyalty", "vouchers"]["erase"] == "delete"
    upper = text.replace("name: vouchers", "name: Vouchers")
    assert error_of(tmp_path, upper).endswith(
        f":{line_of(upper, 'name: Vouchers')}: sources[1].entities[1].name: "
        "must be a lowercase name or a plain identifier (letters, digits, underscores)"
    )


PSEUDONYMISED = """\
sources:
  - name: crm
    type: sql
    url: sqlite:///{db}
    directory: {{table: customers, id: id, email: email}}
    entities:
      - name: customers
        table: customers
        match: {{id: customer_id}}
        erase: delete
      - name: hashed
        table: hashed
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{email: hash, customer_id: null}}}}
      - name: still_linked
        table: still_linked
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{email: null, phone: redact}}}}
      - name: anonymous
        table: anonymous
        match: {{customer_id: customer_id, email: email}}
        erase: {{anonymize: {{customer_id: redact, email: null, name: null}}}}
      - name: parent
        table: parent
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{customer_id: null}}}}
      - name: child
        table: child
        match: {{parent_id: parent.id}}
        erase: delete
      - name: kept
        table: kept
        match: {{parent_id: parent.id}}
        erase: keep
        retention: Kept for the law
"""


async def test_pseudonymised_when_a_hash_or_a_link_stays(tmp_path: Path) -> None:
    sources = load(tmp_path, PSEUDONYMISED.format(db=tmp_path / "shop.db"))
    try:
        pseudonymised = {d["entity"]: d["pseudonymised"] for d in sources.describe()}
    finally:
        await sources.aclose()
    assert pseudonymised == {
        "customers": False,  # deleted
        "hashed": True,  # a keyed hash can be recomputed from the email: a pseudonym
        "still_linked": True,  # the customer id it is matched on stays
        "anonymous": False,  # every column that linked it to the person is gone
        "parent": True,  # its id links the kept and child rows
        "child": False,
        "kept": False,  # kept as it is: neither anonymised nor pseudonymised
    }


# -- a manual source's instructions per type of request (contract section 10) --------------------------------

BY_TYPE = """\
  - name: paper_archive
    type: manual
    owner_email: archive@brand.test
    title: {en: Our paper archive, de: Unser Papierarchiv}
    instructions:
      access: {en: Copy the folder, de: Die Akte kopieren}
      deletion: Shred the folder
"""


def with_manual(tmp_path: Path, manual: str) -> str:
    return shop(tmp_path) + manual


async def test_instructions_per_type_of_request_give_each_type_only_its_own(tmp_path: Path) -> None:
    sources = load(tmp_path, with_manual(tmp_path, BY_TYPE))
    try:
        [archive] = sources.manual
    finally:
        await sources.aclose()
    assert archive.instructions_for("access") == {"en": "Copy the folder", "de": "Die Akte kopieren"}
    assert archive.instructions_for("deletion") == "Shred the folder"
    assert archive.shown_title == {"en": "Our paper archive", "de": "Unser Papierarchiv"}
    # Read without a request at hand, both are shown, each labelled with its type.
    assert in_language(archive.instructions, "de") == (
        "Auskunftsersuchen: Die Akte kopieren\nLöschantrag: Shred the folder"
    )


@pytest.mark.parametrize(
    ("instructions", "where", "message"),
    [
        (
            "      access: Copy the folder\n      erasure: Shred the folder\n",
            "erasure: Shred",
            "sources[2].instructions.erasure: unknown kind of request 'erasure' "
            "(use access and deletion, or one text for both)",
        ),
        (
            "      access: Copy the folder\n",
            "instructions:",
            "sources[2].instructions: needs a text for each kind of request (access and deletion): "
            "deletion is missing",
        ),
        (
            "      deletion: Shred the folder\n",
            "instructions:",
            "sources[2].instructions: needs a text for each kind of request (access and deletion): "
            "access is missing",
        ),
        (
            "      access: {en: Copy the folder}\n      deletion: Shred the folder\n",
            "access: {en",
            "sources[2].instructions.access: needs a text in every language (en and de): de is missing",
        ),
    ],
)
def test_instructions_per_type_of_request_need_both_known_types(
    tmp_path: Path, instructions: str, where: str, message: str
) -> None:
    manual = (
        "  - name: paper_archive\n    type: manual\n    owner_email: archive@brand.test\n    instructions:\n"
        + instructions
    )
    text = with_manual(tmp_path, manual)
    path = tmp_path / "sources.yaml"
    assert error_of(tmp_path, text) == f"{path}:{line_of(text, where)}: {message}"


def test_a_manual_sources_identifiers_are_checked(tmp_path: Path) -> None:
    text = with_manual(
        tmp_path,
        "  - name: paper_archive\n    type: manual\n    owner_email: archive@brand.test\n"
        "    instructions: Shred the folder\n    identifiers: [customer_id, phone]\n",
    )
    message = error_of(tmp_path, text)
    assert f":{line_of(text, 'identifiers:')}: sources[2].identifiers[1]: " in message
    assert "'customer_id', 'email' or 'name'" in message
    empty = with_manual(
        tmp_path,
        "  - name: paper_archive\n    type: manual\n    owner_email: archive@brand.test\n"
        "    instructions: Shred the folder\n    identifiers: []\n",
    )
    refused = error_of(tmp_path, empty)
    assert f":{line_of(empty, 'identifiers:')}: sources[2].identifiers: " in refused
    assert "at least 1 item" in refused
