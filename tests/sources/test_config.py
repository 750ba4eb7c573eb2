"""The sources file: every mistake is one line naming file, line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.sources import DataSources, SourcesFileError

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
