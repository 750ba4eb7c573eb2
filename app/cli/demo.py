"""Demo data sources: a CRM and a support desk in SQLite, with ~50 customers, and the sources file for them.

Deterministic (``random.Random(42)``), so README examples stay true: customer ``cus_0001`` is Ada Lovelace,
``ada.lovelace@example.com``.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

CUSTOMERS = 50
_FAMOUS = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Margaret", "Hamilton"),
    ("Katherine", "Johnson"),
]
_FIRST = [
    "Lena",
    "Jonas",
    "Mia",
    "Noah",
    "Sofia",
    "Elias",
    "Emma",
    "Luca",
    "Hanna",
    "Paul",
    "Clara",
    "Felix",
    "Ida",
    "Oskar",
    "Marie",
    "Anton",
    "Lea",
    "Theo",
    "Nora",
    "Max",
    "Amelie",
    "Jakob",
    "Lina",
    "Ben",
]
_LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Braun",
    "Zimmermann",
    "Krüger",
    "Hartmann",
]
_STREETS = ["Hauptstraße", "Lindenweg", "Bahnhofstraße", "Gartenstraße", "Schulstraße", "Marktplatz"]
_CITIES = [
    ("10115", "Berlin"),
    ("20095", "Hamburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("60311", "Frankfurt"),
]
_PRODUCTS = [
    ("SKU-TEA-01", "Green tea 100 g", "6.90"),
    ("SKU-MUG-02", "Stoneware mug", "14.50"),
    ("SKU-KTL-03", "Kettle 1.2 l", "39.00"),
    ("SKU-CUP-04", "Espresso cups (2)", "12.00"),
    ("SKU-BRW-05", "Cold brew bottle", "24.90"),
    ("SKU-FLT-06", "Paper filters (100)", "3.50"),
]
_PLATFORMS = [
    ("ios", "iPhone 15"),
    ("ios", "iPhone 13 mini"),
    ("android", "Pixel 8"),
    ("android", "Galaxy S23"),
]
_TOPICS = [
    ("Parcel not delivered", "My parcel has not arrived yet, tracking says it is stuck in {city}."),
    ("Wrong item", "I received a mug instead of the kettle I ordered. My number is {phone}."),
    ("Change address", "Please send my next order to {address} instead."),
    ("Refund", "I returned the order last week, when will I get my refund?"),
]
_SCHEMA = """
CREATE TABLE customers (id TEXT PRIMARY KEY, first_name TEXT NOT NULL, last_name TEXT NOT NULL,
    email TEXT NOT NULL, phone TEXT, birth_date TEXT, created_at TEXT NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, ordered_at TEXT NOT NULL,
    status TEXT NOT NULL, total NUMERIC NOT NULL, email TEXT, phone TEXT, shipping_address TEXT);
CREATE INDEX ix_orders_customer_id ON orders (customer_id);
CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, sku TEXT NOT NULL,
    product TEXT NOT NULL, quantity INTEGER NOT NULL, unit_price NUMERIC NOT NULL);
CREATE INDEX ix_order_items_order_id ON order_items (order_id);
CREATE TABLE newsletter_subscriptions (id INTEGER PRIMARY KEY, email TEXT NOT NULL, list TEXT NOT NULL,
    subscribed_at TEXT NOT NULL, consent_source TEXT);
CREATE TABLE app_devices (id INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, platform TEXT NOT NULL,
    model TEXT, push_token TEXT, last_seen_at TEXT);
"""
_SUPPORT_SCHEMA = """
CREATE TABLE tickets (id INTEGER PRIMARY KEY, customer_id TEXT, email TEXT NOT NULL, customer_name TEXT,
    subject TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE ticket_ratings (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, score INTEGER NOT NULL,
    comment TEXT, rated_at TEXT NOT NULL);
"""
_SOURCES_YAML = """\
# Demo data sources (contract section 6), written by `python -m app demo`.
# SQLite paths are relative to the working directory (run the service from the repository root), exactly as
# SQLAlchemy reads any sqlite:/// URL; an absolute path is sqlite:////abs/path.db.
sources:
  - name: crm
    type: sql
    url: sqlite:///{dir}/crm.db
    directory:
      table: customers
      id: id
      email: email
      name: [first_name, last_name]
    entities:
      - name: customers
        table: customers
        match: {{id: customer_id}}
        erase: delete
        purpose: Your customer account, to sell and deliver to you
        categories: [contact data, date of birth]
        recipients: [none outside the company]
      - name: orders
        table: orders
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{shipping_address: null, phone: redact, email: hash}}}}
        purpose: Fulfilling and invoicing your orders
        categories: [contact data, order history, payment amounts]
        recipients: [parcel carrier (DHL), tax advisor]
        retention: Invoices are kept 10 years for tax law (§ 147 AO); contact details are anonymised
      - name: order_items
        table: order_items
        match: {{order_id: orders.id}}
        erase: keep
        purpose: The lines of your invoices
        categories: [order history]
        recipients: [tax advisor]
        retention: Invoice lines are kept 10 years for tax law (§ 147 AO)
      - name: newsletter_subscriptions
        table: newsletter_subscriptions
        match: {{email: email}}
        erase: delete
        purpose: Sending you the newsletters you subscribed to (your consent)
        categories: [contact data, consent records]
        recipients: [newsletter mailing service]
      - name: app_devices
        table: app_devices
        match: {{customer_id: customer_id}}
        erase: delete
        purpose: Push notifications to our mobile apps
        categories: [device identifiers]
        recipients: [Apple Push Notification service, Firebase Cloud Messaging]
  - name: support
    type: sql
    url: sqlite:///{dir}/support.db
    entities:
      - name: tickets
        table: tickets
        match: {{customer_id: customer_id, email: email}}
        erase: {{anonymize: {{customer_name: null, body: redact, email: hash}}}}
        purpose: Answering your support requests
        categories: [contact data, correspondence]
        recipients: [support desk provider]
        retention: Ticket statistics are kept anonymised to improve our service
      - name: ticket_ratings
        table: ticket_ratings
        match: {{ticket_id: tickets.id}}
        erase: delete
        purpose: Measuring the quality of our support
        categories: [feedback]
"""


def create_demo(demo_dir: Path = Path("var/demo")) -> bool:
    """Create the demo SQLite sources and ``sources.yaml`` in ``demo_dir``.

    Returns False and changes nothing when ``demo_dir/crm.db`` already exists (the demo is made once).
    """
    if (demo_dir / "crm.db").exists():
        return False
    demo_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(42)
    crm = sqlite3.connect(demo_dir / "crm.db")
    support = sqlite3.connect(demo_dir / "support.db")
    try:
        crm.executescript(_SCHEMA)
        support.executescript(_SUPPORT_SCHEMA)
        _fill(rng, crm, support)
        crm.commit()
        support.commit()
    finally:
        crm.close()
        support.close()
    (demo_dir / "sources.yaml").write_text(_SOURCES_YAML.format(dir=demo_dir.as_posix()), encoding="utf-8")
    return True


def _fill(rng: random.Random, crm: sqlite3.Connection, support: sqlite3.Connection) -> None:
    start = datetime(2023, 1, 1, tzinfo=UTC)
    order_id = item_id = ticket_id = 0
    for number in range(1, CUSTOMERS + 1):
        first, last = (
            _FAMOUS[number - 1] if number <= len(_FAMOUS) else (rng.choice(_FIRST), rng.choice(_LAST))
        )
        customer_id = f"cus_{number:04d}"
        local = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
        email = f"{local}@example.com" if number <= len(_FAMOUS) else f"{local}{number}@example.com"
        phone = f"+49 30 {rng.randint(1000000, 9999999)}"
        postcode, city = rng.choice(_CITIES)
        address = f"{rng.choice(_STREETS)} {rng.randint(1, 120)}, {postcode} {city}"
        created = start + timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1440))
        birth = f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        crm.execute(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?)",
            (customer_id, first, last, email, phone, birth, created.isoformat()),
        )
        for _ in range(3 if number == 1 else rng.randint(0, 5)):
            order_id += 1
            ordered = created + timedelta(days=rng.randint(1, 300))
            lines = [(rng.choice(_PRODUCTS), rng.randint(1, 3)) for _ in range(rng.randint(1, 4))]
            total = sum(float(price) * quantity for (_, _, price), quantity in lines)
            crm.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    customer_id,
                    ordered.isoformat(),
                    rng.choice(["delivered", "delivered", "returned"]),
                    f"{total:.2f}",
                    email,
                    phone,
                    address,
                ),
            )
            for (sku, product, price), quantity in lines:
                item_id += 1
                crm.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?)",
                    (item_id, order_id, sku, product, quantity, price),
                )
        if number == 1 or rng.random() < 0.6:
            # Some addresses were typed in another case: matching by email ignores case.
            typed = email if rng.random() < 0.7 else email.title()
            crm.execute(
                "INSERT INTO newsletter_subscriptions (email, list, subscribed_at, consent_source) VALUES (?, ?, ?, ?)",
                (
                    typed,
                    rng.choice(["weekly", "offers"]),
                    created.isoformat(),
                    rng.choice(["web form", "app"]),
                ),
            )
        for _ in range(1 if number == 1 else rng.randint(1, 2)):
            platform, model = rng.choice(_PLATFORMS)
            crm.execute(
                "INSERT INTO app_devices (customer_id, platform, model, push_token, last_seen_at) VALUES (?, ?, ?, ?, ?)",
                (
                    customer_id,
                    platform,
                    model,
                    f"{rng.getrandbits(128):032x}",
                    (created + timedelta(days=rng.randint(1, 400))).isoformat(),
                ),
            )
        if number == 1 or rng.random() < 0.4:
            ticket_id += 1
            subject, body = rng.choice(_TOPICS)
            support.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket_id,
                    customer_id,
                    email,
                    f"{first} {last}",
                    subject,
                    body.format(city=city, phone=phone, address=address),
                    rng.choice(["open", "solved"]),
                    (created + timedelta(days=rng.randint(1, 200))).isoformat(),
                ),
            )
            support.execute(
                "INSERT INTO ticket_ratings (ticket_id, score, comment, rated_at) VALUES (?, ?, ?, ?)",
                (
                    ticket_id,
                    rng.randint(1, 5),
                    rng.choice([None, "Quick answer, thanks!", "Took too long."]),
                    (created + timedelta(days=rng.randint(201, 260))).isoformat(),
                ),
            )
