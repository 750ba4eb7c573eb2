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
# Demo data sources (contract section 6), written by `python -m app demo`, for the demo brand's tea shop.
# SQLite paths are relative to the working directory (run the service from the repository root), exactly as
# SQLAlchemy reads any sqlite:/// URL; an absolute path is sqlite:////abs/path.db.
#
# What customers read about each entity (contract section 8, GDPR Art. 15), in English and German; a plain
# string instead of {en: ..., de: ...} is used for every language:
#   title (never the table name), purpose, categories, recipients, retention, retention_basis
#   (legal_obligation | contract | legitimate_interest | consent: only legal_obligation reads "the law requires
#   it"), source_of_data, automated_decisions, transfers (to countries outside the EU and their safeguards).
# Erasure words follow what happens: a row that keeps a link to the person (a keyed hash, a customer number) is
# "pseudonymised"; "anonymised" only when nothing links it to the person any more (app_devices below).
sources:
  - name: crm
    type: sql
    url: sqlite:///@DIR@/crm.db
    directory:
      table: customers
      id: id
      email: email
      name: [first_name, last_name]
    entities:
      - name: customers
        table: customers
        match: {id: customer_id}
        erase: delete
        title:
          en: Your customer account
          de: Ihr Kundenkonto
        purpose:
          en: To run your customer account, so that you can order from us and see your orders
          de: Zur Führung Ihres Kundenkontos, damit Sie bei uns bestellen und Ihre Bestellungen einsehen können
        categories:
          - {en: Name, de: Name}
          - {en: Email address and phone number, de: E-Mail-Adresse und Telefonnummer}
          - {en: Date of birth, de: Geburtsdatum}
        recipients:
          - &hosting
            en: Our hosting provider in Germany, who processes the data on our behalf
            de: Unser Hosting-Dienstleister in Deutschland, der die Daten in unserem Auftrag verarbeitet
        retention:
          en: As long as you have a customer account with us
          de: Solange Sie ein Kundenkonto bei uns haben
        retention_basis: contract
        source_of_data:
          en: You, when you opened your account
          de: Sie selbst, bei der Eröffnung Ihres Kontos
        automated_decisions: &no_automated_decisions
          en: None. We make no decisions about you by automated means alone, and no profiling.
          de: >-
            Keine. Wir treffen keine ausschließlich automatisierten Entscheidungen über Sie und betreiben kein
            Profiling.
        transfers: &eu_only
          en: None. The data stays in the European Union.
          de: Keine. Die Daten bleiben in der Europäischen Union.
      - name: orders
        table: orders
        match: {customer_id: customer_id}
        # Pseudonymised, not anonymous: the email becomes a keyed hash and the customer number stays.
        erase: {anonymize: {shipping_address: null, phone: redact, email: hash}}
        title:
          en: Your orders
          de: Ihre Bestellungen
        purpose:
          en: To deliver your orders and invoice them
          de: Zur Lieferung und Abrechnung Ihrer Bestellungen
        categories:
          - {en: Order history and amounts, de: Bestellhistorie und Beträge}
          - {en: Delivery address, de: Lieferadresse}
          - {en: Email address and phone number, de: E-Mail-Adresse und Telefonnummer}
        recipients:
          - {en: DHL (parcel delivery), de: DHL (Paketzustellung)}
          - &tax_advisor {en: Our tax advisor, de: Unsere Steuerberatung}
        # Since 2025, accounting records such as invoices are kept 8 years (§ 147 (3) AO, § 14b UStG).
        retention:
          en: >-
            Orders are accounting records: we must keep them for 8 years from the end of the year in which they
            were invoiced (§ 147 AO, § 14b UStG). When you ask us to erase your data, we remove your delivery
            address and phone number and replace your email address with a keyed hash; the order keeps your
            former customer number. It is then pseudonymised, not anonymous.
          de: >-
            Bestellungen gehören zu unseren Buchungsbelegen: Wir müssen sie 8 Jahre ab dem Ende des Jahres
            aufbewahren, in dem sie in Rechnung gestellt wurden (§ 147 AO, § 14b UStG). Wenn Sie die Löschung
            Ihrer Daten verlangen, entfernen wir Ihre Lieferadresse und Telefonnummer und ersetzen Ihre
            E-Mail-Adresse durch einen mit einem geheimen Schlüssel gebildeten Hashwert; die Bestellung behält
            Ihre frühere Kundennummer. Sie ist dann pseudonymisiert, nicht anonym.
        retention_basis: legal_obligation
        source_of_data: &you_ordered
          en: You, when you ordered
          de: Sie selbst, bei Ihrer Bestellung
        automated_decisions: *no_automated_decisions
        transfers: *eu_only
      - name: order_items
        table: order_items
        match: {order_id: orders.id}
        erase: keep
        title:
          en: Your order lines
          de: Ihre Bestellpositionen
        purpose:
          en: The lines of your invoices, with products, quantities and prices
          de: Die Positionen Ihrer Rechnungen, mit Artikeln, Mengen und Preisen
        categories:
          - {en: Products bought and their prices, de: Gekaufte Artikel und ihre Preise}
        recipients:
          - *tax_advisor
        retention:
          en: >-
            Invoice lines are accounting records: we must keep them for 8 years from the end of the year in
            which they were invoiced (§ 147 AO, § 14b UStG).
          de: >-
            Rechnungspositionen sind Buchungsbelege: Wir müssen sie 8 Jahre ab dem Ende des Jahres aufbewahren,
            in dem sie in Rechnung gestellt wurden (§ 147 AO, § 14b UStG).
        retention_basis: legal_obligation
        source_of_data: *you_ordered
        automated_decisions: *no_automated_decisions
        transfers: *eu_only
      - name: newsletter_subscriptions
        table: newsletter_subscriptions
        match: {email: email}
        erase: delete
        title:
          en: Your newsletter subscription
          de: Ihr Newsletter-Abonnement
        purpose:
          en: Sending you the newsletter you subscribed to
          de: Versand des Newsletters, den Sie abonniert haben
        categories:
          - {en: Email address, de: E-Mail-Adresse}
          - en: Record of your consent (when and where you subscribed)
            de: Nachweis Ihrer Einwilligung (wann und wo Sie sich angemeldet haben)
        recipients:
          - en: Our newsletter service provider in the EU, who sends it on our behalf
            de: Unser Newsletter-Dienstleister in der EU, der ihn in unserem Auftrag versendet
        retention:
          en: As long as you are subscribed
          de: Solange Sie den Newsletter abonniert haben
        retention_basis: consent
        source_of_data:
          en: You, when you subscribed on our website or in our app
          de: Sie selbst, bei der Anmeldung auf unserer Website oder in unserer App
        automated_decisions: *no_automated_decisions
        transfers: *eu_only
      - name: app_devices
        table: app_devices
        match: {customer_id: customer_id}
        # Anonymised: the link to the customer, the push token and the last use go; platform and model stay.
        erase: {anonymize: {customer_id: redact, push_token: null, last_seen_at: null}}
        title:
          en: Your devices with our app
          de: Ihre Geräte mit unserer App
        purpose:
          en: Sending push notifications to our app on your phone
          de: Versand von Push-Benachrichtigungen an unsere App auf Ihrem Smartphone
        categories:
          - {en: Device platform and model, de: Plattform und Modell des Geräts}
          - en: Push token (the address of your device for notifications)
            de: Push-Token (die Adresse Ihres Geräts für Benachrichtigungen)
          - {en: When you last used the app, de: Wann Sie die App zuletzt genutzt haben}
        recipients:
          - Apple (Apple Push Notification service)
          - Google (Firebase Cloud Messaging)
        retention:
          en: >-
            As long as the app is signed in on your device. When you ask us to erase your data, we remove the
            push token, the time of last use and the link to you; only the platform and the model stay, as an
            anonymous count of the phones our app runs on.
          de: >-
            Solange die App auf Ihrem Gerät angemeldet ist. Wenn Sie die Löschung Ihrer Daten verlangen,
            entfernen wir das Push-Token, den Zeitpunkt der letzten Nutzung und die Verbindung zu Ihnen; nur
            Plattform und Modell bleiben, als anonyme Zählung der Smartphones, auf denen unsere App läuft.
        retention_basis: consent
        source_of_data:
          en: Our app on your device
          de: Unsere App auf Ihrem Gerät
        automated_decisions: *no_automated_decisions
        transfers:
          en: >-
            USA: Apple Inc. and Google LLC deliver the notifications, under the EU-U.S. Data Privacy Framework
            (adequacy decision of the European Commission of 10 July 2023).
          de: >-
            USA: Apple Inc. und Google LLC stellen die Benachrichtigungen zu, auf Grundlage des
            EU-US-Datenschutzrahmens (Angemessenheitsbeschluss der Europäischen Kommission vom 10. Juli 2023).
  - name: support
    type: sql
    url: sqlite:///@DIR@/support.db
    entities:
      - name: tickets
        table: tickets
        match: {customer_id: customer_id, email: email}
        # Pseudonymised, not anonymous: the email becomes a keyed hash and the customer number stays.
        erase: {anonymize: {customer_name: null, body: redact, email: hash}}
        title:
          en: Your messages to our customer service
          de: Ihre Nachrichten an unseren Kundenservice
        purpose:
          en: Answering your questions and complaints
          de: Beantwortung Ihrer Fragen und Reklamationen
        categories:
          - {en: Name and email address, de: Name und E-Mail-Adresse}
          - {en: What you wrote to us, de: Was Sie uns geschrieben haben}
        recipients:
          - &support_desk
            en: Our customer service software provider in the EU, who processes the data on our behalf
            de: Unser Anbieter der Kundenservice-Software in der EU, der die Daten in unserem Auftrag verarbeitet
        retention:
          en: >-
            3 years after your last message, for complaints and warranty cases. When you ask us to erase your
            data, we remove your name and your message and replace your email address with a keyed hash; the
            subject and your former customer number stay. What remains is pseudonymised, not anonymous.
          de: >-
            3 Jahre nach Ihrer letzten Nachricht, für Reklamationen und Gewährleistungsfälle. Wenn Sie die
            Löschung Ihrer Daten verlangen, entfernen wir Ihren Namen und Ihre Nachricht und ersetzen Ihre
            E-Mail-Adresse durch einen mit einem geheimen Schlüssel gebildeten Hashwert; der Betreff und Ihre
            frühere Kundennummer bleiben. Was bleibt, ist pseudonymisiert, nicht anonym.
        retention_basis: legitimate_interest
        source_of_data:
          en: You, when you wrote to us
          de: Sie selbst, als Sie uns geschrieben haben
        automated_decisions: *no_automated_decisions
        transfers: *eu_only
      - name: ticket_ratings
        table: ticket_ratings
        match: {ticket_id: tickets.id}
        erase: delete
        title:
          en: Your ratings of our customer service
          de: Ihre Bewertungen unseres Kundenservice
        purpose:
          en: Measuring and improving the quality of our customer service
          de: Messung und Verbesserung der Qualität unseres Kundenservice
        categories:
          - {en: Your rating and comment, de: Ihre Bewertung und Ihr Kommentar}
        recipients:
          - *support_desk
        retention:
          en: As long as the message it belongs to is kept
          de: Solange die zugehörige Nachricht aufbewahrt wird
        retention_basis: legitimate_interest
        source_of_data:
          en: You, when you rated our answer
          de: Sie selbst, als Sie unsere Antwort bewertet haben
        automated_decisions: *no_automated_decisions
        transfers: *eu_only
# An HTTP source: the remote system names its entities; `entities` describes them for customers. The demo has
# no loyalty system running, so it is left out; remove the leading "# " of the lines below to add one (it needs
# LOYALTY_AUTH in the environment and a server speaking the protocol of contract section 6 on port 9100).
# LOYALTY-BEGIN
#   - name: loyalty
#     type: http
#     url: http://127.0.0.1:9100/gdpr/customers/{customer_id}
#     headers_env: {Authorization: LOYALTY_AUTH}
#     timeout: PT5S
#     entities:
#       - name: points
#         title:
#           en: Your loyalty points
#           de: Ihre Treuepunkte
#         purpose:
#           en: Running the loyalty programme you joined
#           de: Durchführung des Treueprogramms, an dem Sie teilnehmen
#         categories:
#           - {en: Points balance and tier, de: Punktestand und Stufe}
#         recipients:
#           - en: Our loyalty programme partner, who runs it on our behalf
#             de: Unser Partner für das Treueprogramm, der es in unserem Auftrag betreibt
#         retention:
#           en: As long as you take part in the programme
#           de: Solange Sie am Treueprogramm teilnehmen
#         retention_basis: contract
#         source_of_data:
#           en: Your purchases with us
#           de: Ihre Einkäufe bei uns
#         automated_decisions:
#           en: >-
#             Your tier is set automatically from your points. It decides only which rewards you can choose and
#             has no legal or similarly significant effect on you.
#           de: >-
#             Ihre Stufe wird automatisch aus Ihren Punkten berechnet. Sie bestimmt nur, welche Prämien Sie
#             wählen können, und hat keine rechtliche oder ähnlich erhebliche Wirkung für Sie.
#         transfers: *eu_only
# LOYALTY-END
# Recipients (GDPR Art. 19): those we pass customers' data to. When an erasure deletes or anonymises records of
# an entity (source.entity) they receive, each is told once, by email or by a webhook signed per Standard
# Webhooks, with only the identifiers they know the customer by; the timeline says so and the customer's
# completion email names them (with `purpose`, in the customer's language).
recipients:
  - name: Postfalke Newsletter GmbH
    email: privacy@postfalke.example
    entities: [crm.newsletter_subscriptions]
    identifiers: [email]
    language: de
    purpose:
      en: Sends our newsletter on our behalf
      de: Versendet unseren Newsletter in unserem Auftrag
# A recipient told by webhook. The demo runs no receiver for it, so it is left out; remove the leading "# " of
# the lines below to add it (it needs DHL_WEBHOOK_SECRET, a whsec_ secret, in the environment and a receiver
# on port 9200).
# RECIPIENT-WEBHOOK-BEGIN
#   - name: DHL (parcel delivery)
#     webhook: http://127.0.0.1:9200/privacy/erasures
#     secret_env: DHL_WEBHOOK_SECRET
#     entities: [crm.orders]
#     identifiers: [customer_id, email]
#     purpose:
#       en: Delivers our parcels
#       de: Stellt unsere Pakete zu
# RECIPIENT-WEBHOOK-END
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
    sources = _SOURCES_YAML.replace("@DIR@", demo_dir.as_posix())
    (demo_dir / "sources.yaml").write_text(sources, encoding="utf-8")
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
