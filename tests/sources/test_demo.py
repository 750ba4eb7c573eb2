"""The demo sources: made once, loadable, and showing every erase strategy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
        assert report["sources"]["crm"]["order_items"]["action"] == "kept"
        assert report["sources"]["support"]["tickets"] == {
            "action": "anonymized",
            "count": 1,
            "columns": {"customer_name": "null", "body": "redact", "email": "hash"},
        }
    finally:
        await sources.aclose()
