"""The demo sources: made once, loadable, showing every erase strategy and every field customers read, in
English and German."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from app.cli.demo import create_demo
from app.sources import Customer, DataSources, Identity

from .factories import SECRET


async def test_demo_is_created_once_and_loads(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    assert create_demo(demo) is True
    before = (demo / "sources.yaml").read_text()
    assert create_demo(demo) is False
    assert (demo / "sources.yaml").read_text() == before

    with sqlite3.connect(demo / "crm.db") as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (50,)
        assert conn.execute("SELECT count(DISTINCT customer_id) FROM app_devices").fetchone() == (50,)

    sources = DataSources.from_file(demo / "sources.yaml", secret_key=SECRET)
    try:
        ada = await sources.find_customer(email="Ada.Lovelace@example.com")
        assert ada == Customer(id="cus_0001", email="ada.lovelace@example.com", name="Ada Lovelace")
        found: dict[str, int] = {}
        async for source, entity, _ in sources.collect(Identity.of(customer_id=ada.id, email=ada.email)):
            found[f"{source}.{entity}"] = found.get(f"{source}.{entity}", 0) + 1
        assert found["crm.customers"] == 1
        assert found["crm.orders"] == 3
        assert found["crm.order_items"] >= 3
        assert found["crm.newsletter_subscriptions"] == 1
        assert found["crm.app_devices"] == 1
        assert found["support.tickets"] == 1

        strategies = {d["erase"] for d in sources.describe()}
        assert strategies == {"delete", "anonymize", "keep"}
        hows = {how for d in sources.describe() for how in d["anonymize"].values()}
        assert hows == {"null", "redact", "hash"}

        report = await sources.erase(Identity.of(customer_id=ada.id, email=ada.email))
        assert report["verified"] is True
        order_items = report["sources"]["crm"]["order_items"]
        assert (order_items["action"], order_items["basis"]) == ("kept", "legal_obligation")
        assert order_items["title"] == {"en": "Your order lines", "de": "Ihre Bestellpositionen"}
        tickets = report["sources"]["support"]["tickets"]
        assert tickets["action"] == "anonymized"
        assert tickets["count"] == 1
        assert tickets["columns"] == {"customer_name": "null", "body": "redact", "email": "hash"}
        assert tickets["pseudonymised"] is True  # the email is a keyed hash, the customer number stays
        assert tickets["basis"] == "legitimate_interest"
        devices = report["sources"]["crm"]["app_devices"]
        assert (devices["action"], devices["count"], devices["pseudonymised"]) == ("anonymized", 1, False)
        with sqlite3.connect(demo / "crm.db") as conn:
            left = conn.execute(
                "SELECT customer_id, push_token, last_seen_at FROM app_devices WHERE customer_id = '[redacted]'"
            ).fetchall()
        assert left == [("[redacted]", None, None)]  # only platform and model stay: nothing links it to Ada
    finally:
        await sources.aclose()


ART_15 = ("title", "purpose", "retention", "source_of_data", "automated_decisions", "transfers")


def assert_described_in_both_languages(described: list[dict[str, Any]]) -> None:
    for entity in described:
        where = f"{entity['source']}.{entity['entity']}"
        for key in ART_15:
            text = entity[key]
            assert isinstance(text, dict), (where, key, text)
            assert set(text) == {"en", "de"}, (where, key, text)
            assert text["en"] != text["de"], (where, key)
        assert entity["retention_basis"] is not None, where
        assert entity["categories"], where
        assert entity["recipients"], where
        for item in entity["categories"] + entity["recipients"]:
            # A plain string is a name, the same in both languages (Apple, DHL); anything else is translated.
            assert isinstance(item, str) or set(item) == {"en", "de"}, (where, item)


async def test_demo_shows_every_field_in_english_and_german(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    create_demo(demo)
    sources = DataSources.from_file(demo / "sources.yaml", secret_key=SECRET)
    try:
        described = sources.describe()
    finally:
        await sources.aclose()
    assert_described_in_both_languages(described)
    about = {(d["source"], d["entity"]): d for d in described}
    assert about["crm", "orders"]["pseudonymised"] is True
    assert "pseudonymised, not anonymous" in about["crm", "orders"]["retention"]["en"]
    assert "pseudonymisiert, nicht anonym" in about["crm", "orders"]["retention"]["de"]
    assert about["crm", "app_devices"]["pseudonymised"] is False
    assert {d["retention_basis"] for d in described} == {
        "legal_obligation",
        "contract",
        "legitimate_interest",
        "consent",
    }


async def test_demo_http_source_loads_when_uncommented(tmp_path: Path) -> None:
    # The demo runs no loyalty system, so its HTTP source is written commented out; removing the "# " of
    # the marked lines must give a valid file that describes the remote's entities in both languages.
    demo = tmp_path / "demo"
    create_demo(demo)
    text = (demo / "sources.yaml").read_text()
    begin, end = text.index("# LOYALTY-BEGIN\n"), text.index("# LOYALTY-END\n")
    block = text[begin:end].splitlines()[1:]
    assert all(line.startswith("# ") for line in block)
    enabled = text[:begin] + "".join(line[2:] + "\n" for line in block) + text[end:]
    (demo / "with_loyalty.yaml").write_text(enabled)
    sources = DataSources.from_file(
        demo / "with_loyalty.yaml", secret_key=SECRET, env={"LOYALTY_AUTH": "Bearer demo"}
    )
    try:
        described = [d for d in sources.describe() if d["source"] == "loyalty"]
    finally:
        await sources.aclose()
    assert [d["entity"] for d in described] == ["points"]
    assert_described_in_both_languages(described)
