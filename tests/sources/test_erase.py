"""Erasure: dry run, strategies per entity, the check afterwards, retries and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.sources import DataSources, Identity, Refusal, SourceError

from ..helpers import HASHED
from .conftest import LOYALTY_TOKEN
from .factories import SECRET, shop_yaml, write_sources
from .http_source import HttpSourceServer

ADA = Identity.of(customer_id="cus_1", email="ada@example.com")


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


# Each outcome carries what customers read about it: the title (the entity's name when none is configured),
# the retention basis and text, and whether the rows left behind are pseudonymised (here: the email is hashed).
NOTHING_TO_SAY = {"basis": None, "retention": None, "pseudonymised": False}
EXPECTED_CRM: dict[str, dict[str, Any]] = {
    "customers": {
        "action": "deleted",
        "count": 1,
        "title": {"en": "Your account", "de": "Ihr Kundenkonto"},
        "basis": "contract",
        "retention": None,
        "pseudonymised": False,
    },
    "orders": {
        "action": "anonymized",
        "count": 2,
        "columns": {"address": "null", "phone": "redact", "email": "hash"},
        "title": "Your orders",
        "basis": None,
        "retention": "Invoices are kept 7 years for tax law",
        "pseudonymised": True,
    },
    "order_items": {
        "action": "kept",
        "count": 3,
        "reason": "Invoice lines are kept 7 years for tax law",
        "title": "order_items",
        "basis": "legal_obligation",
        "retention": "Invoice lines are kept 7 years for tax law",
        "pseudonymised": False,
    },
    "newsletter": {"action": "deleted", "count": 1, "title": "newsletter", **NOTHING_TO_SAY},
    "devices": {"action": "deleted", "count": 1, "title": "devices", **NOTHING_TO_SAY},
}
LOYALTY_POINTS = {"title": {"en": "Loyalty points", "de": "Treuepunkte"}, **NOTHING_TO_SAY}


def assert_ada_erased(url: str, prefix: str = "") -> None:
    assert rows(url, f"SELECT id FROM {prefix}customers ORDER BY id") == [("cus_2",)]
    orders = rows(url, f"SELECT id, customer_id, email, phone, address FROM {prefix}orders ORDER BY id")
    assert orders == [
        (10, "cus_1", HASHED["ada@example.com"], "[redacted]", None),
        (11, "cus_1", HASHED["ADA@example.com"], None, None),  # a NULL phone stays NULL
        (20, "cus_2", "bob@example.com", "+44 2", "2 Site Rd"),  # someone else's order is untouched
    ]
    assert rows(url, f"SELECT id FROM {prefix}order_items ORDER BY id") == [(100,), (101,), (102,), (200,)]
    assert rows(url, f"SELECT email FROM {prefix}newsletter ORDER BY id") == [
        ("bob@example.com",),
        ("someone@example.com",),
    ]
    assert rows(url, f"SELECT token FROM {prefix}devices") == [("tok-bob",)]


async def test_erase_applies_each_strategy_and_verifies(
    shop: DataSources, shop_url: str, remote: HttpSourceServer
) -> None:
    remote.data["cus_1"] = {"points": [{"balance": 120}, {"balance": 3}]}
    remote.data["cus_2"] = {"points": [{"balance": 5}]}

    assert await shop.dry_run_erasure(ADA) == []
    report = await shop.erase(ADA)

    assert report == {
        "sources": {
            "crm": EXPECTED_CRM,
            "loyalty": {"points": {"action": "deleted", "count": 2, **LOYALTY_POINTS}},
        },
        "verified": True,
    }
    assert_ada_erased(shop_url)
    assert "cus_1" not in remote.data
    assert "cus_2" in remote.data
    assert await shop.find_customer(customer_id="cus_1") is None


async def test_erase_again_is_safe(shop: DataSources, shop_url: str) -> None:
    await shop.erase(ADA)
    again = await shop.erase(ADA)

    crm = again["sources"]["crm"]
    assert crm["customers"] == {**EXPECTED_CRM["customers"], "count": 0}
    assert crm["devices"] == {**EXPECTED_CRM["devices"], "count": 0}
    assert crm["orders"]["count"] == 2  # found by customer_id, left as they were
    assert again["verified"] is True
    assert_ada_erased(shop_url)  # hashes were not hashed twice


async def test_refusing_source_stops_before_anything_is_erased(
    shop: DataSources, shop_url: str, remote: HttpSourceServer
) -> None:
    remote.data["cus_1"] = {"points": [{"balance": 120}]}
    remote.refusals["cus_1"] = [{"code": "legal_hold", "message": "Open dispute until 2025-12-31"}]

    refusals = await shop.dry_run_erasure(ADA)

    assert refusals == [Refusal(source="loyalty", code="legal_hold", message="Open dispute until 2025-12-31")]
    assert rows(shop_url, "SELECT count(*) FROM customers") == [(2,)]
    assert rows(shop_url, "SELECT count(*) FROM orders WHERE address IS NOT NULL") == [(3,)]
    assert remote.data["cus_1"] == {"points": [{"balance": 120}]}
    assert all("dry_run=true" in query for method, _, query, _ in remote.calls if method == "DELETE")


async def test_timing_out_source_is_retried_then_fails(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.delay = 1.0  # the source's timeout is PT0.5S

    with pytest.raises(SourceError) as caught:
        await shop.dry_run_erasure(ADA)

    assert (
        str(caught.value) == "source 'loyalty': DELETE (dry run) got no answer within 0.5s (after 3 attempts)"
    )
    assert LOYALTY_TOKEN not in str(caught.value)
    assert len([call for call in remote.calls if call[0] == "DELETE"]) == 3


async def test_failing_source_succeeds_on_retry(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.data["cus_1"] = {"points": [{"balance": 120}]}
    remote.fail_next = 2

    records = [record async for source, _, record in shop.collect(ADA) if source == "loyalty"]

    assert records == [{"balance": 120}]
    assert len(remote.calls) == 3


async def test_source_failing_every_time(shop: DataSources, remote: HttpSourceServer) -> None:
    remote.fail_next = 10
    with pytest.raises(SourceError, match=r"^source 'loyalty': GET answered HTTP 500 \(after 3 attempts\)$"):
        async for _ in shop.collect(ADA):
            pass


async def test_check_fails_when_rows_come_back(shop: DataSources, shop_url: str) -> None:
    # A sync job that re-creates the subscription the moment it is deleted: the check must notice.
    engine = create_engine(shop_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER resubscribe AFTER DELETE ON newsletter "
                "BEGIN INSERT INTO newsletter (email) VALUES (old.email); END"
            )
        )
    engine.dispose()

    with pytest.raises(SourceError, match=r"erasure check failed: crm\.newsletter: 1 rows still exist"):
        await shop.erase(ADA)


async def test_check_finds_children_of_deleted_parents(tmp_path: Path, shop_url: str) -> None:
    # devices match customers.id; deleting them must still be checked after the customer row is gone.
    engine = create_engine(shop_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER keep_devices AFTER DELETE ON devices "
                "BEGIN INSERT INTO devices (customer_id, token) VALUES (old.customer_id, old.token); END"
            )
        )
    engine.dispose()
    sources = DataSources.from_file(write_sources(tmp_path, shop_yaml(shop_url)), secret_key=SECRET)
    try:
        with pytest.raises(SourceError, match=r"crm\.devices: 1 rows still exist"):
            await sources.erase(ADA)
    finally:
        await sources.aclose()


async def test_broken_table_fails_the_dry_run(tmp_path: Path, shop_url: str) -> None:
    text_ = shop_yaml(shop_url).replace("table: devices", "table: devicez")
    sources = DataSources.from_file(write_sources(tmp_path, text_), secret_key=SECRET)
    try:
        with pytest.raises(
            SourceError, match=r"^source 'crm': database error \(OperationalError\): no such table"
        ):
            await sources.dry_run_erasure(ADA)
        assert rows(shop_url, "SELECT count(*) FROM customers") == [(2,)]
    finally:
        await sources.aclose()


async def test_postgres_erasure(tmp_path: Path, pg_shop: tuple[str, str]) -> None:
    url, schema = pg_shop
    sources = DataSources.from_file(write_sources(tmp_path, shop_yaml(url, schema=schema)), secret_key=SECRET)
    try:
        assert await sources.dry_run_erasure(ADA) == []
        report = await sources.erase(ADA)
        assert report == {"sources": {"crm": EXPECTED_CRM}, "verified": True}
        assert_ada_erased(url, prefix=f'"{schema}".')
        again = await sources.erase(ADA)
        assert again["verified"] is True
    finally:
        await sources.aclose()


async def test_report_names_true_anonymisation_and_undeclared_remote_entities(
    tmp_path: Path, shop_url: str, remote: HttpSourceServer
) -> None:
    # The newsletter's only link to the person (the email it matches on) is nulled: anonymous, not
    # pseudonymised. The loyalty system also erases vouchers it never declared: named by their name only.
    text_ = shop_yaml(shop_url, http_url=remote.url).replace(
        "match: {email: email}\n        erase: delete",
        "match: {email: email}\n        erase: {anonymize: {email: null}}",
    )
    remote.data["cus_1"] = {"points": [{"balance": 120}], "vouchers": [{"code": "TEA10"}]}
    sources = DataSources.from_file(
        write_sources(tmp_path, text_), secret_key=SECRET, env={"LOYALTY_AUTH": LOYALTY_TOKEN}
    )
    try:
        report = await sources.erase(ADA)
    finally:
        await sources.aclose()

    assert report["sources"]["crm"]["newsletter"] == {
        "action": "anonymized",
        "count": 1,
        "columns": {"email": "null"},
        "title": "newsletter",
        **NOTHING_TO_SAY,
    }
    assert report["sources"]["crm"]["orders"]["pseudonymised"] is True
    assert report["sources"]["loyalty"] == {
        "points": {"action": "deleted", "count": 1, **LOYALTY_POINTS},
        "vouchers": {"action": "deleted", "count": 1, "title": "vouchers", **NOTHING_TO_SAY},
    }
    assert rows(shop_url, "SELECT email FROM newsletter ORDER BY id") == [
        (None,),
        ("bob@example.com",),
        ("someone@example.com",),
    ]


async def test_report_of_a_source_without_counts_lists_its_declared_entities(
    shop: DataSources, remote: HttpSourceServer
) -> None:
    # Nothing left remotely: the source answers 204 (no counts), the declared entity is reported deleted.
    report = await shop.erase(ADA)
    assert report["sources"]["loyalty"] == {"points": {"action": "deleted", **LOYALTY_POINTS}}
