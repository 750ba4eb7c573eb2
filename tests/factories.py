"""Plain typed factories for test data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

CUSTOMERS = [
    ("cus_1", "ada@example.com", "Ada", "Lovelace"),
    ("cus_2", "grace@example.com", "Grace", "Hopper"),
    ("cus_3", "alan@example.com", "Alan", "Turing"),
]


def write_crm(directory: Path, *, extra_sources: str = "") -> Path:
    """A small SQLite CRM (customers, orders) and a sources.yaml describing it; returns the yaml's path."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "crm.db"
    with sqlite3.connect(database) as connection:
        connection.executescript(
            """
            CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id TEXT, total REAL, shipping_address TEXT);
            """
        )
        connection.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        connection.executemany(
            "INSERT INTO orders (customer_id, total, shipping_address) VALUES (?, ?, ?)",
            [
                ("cus_1", 12.5, "1 Analytical Way"),
                ("cus_1", 99.0, "1 Analytical Way"),
                ("cus_2", 7.0, "2 Navy Rd"),
            ],
        )
    sources = directory / "sources.yaml"
    sources.write_text(
        f"""sources:
  - name: crm
    type: sql
    url: sqlite:///{database}
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
        purpose: Customer account
        categories: [contact data]
      - name: orders
        table: orders
        match: {{customer_id: customer_id}}
        erase: {{anonymize: {{shipping_address: redact}}}}
        retention: Invoices are kept 10 years for tax law
{extra_sources}"""
    )
    return sources
