"""CSV cells a spreadsheet would run as formulas are written as text; data.json keeps the values as they are."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import zipfile
from datetime import date
from pathlib import Path

import httpx

from app.packages.csv_spool import Spool
from app.sources.values import Records, json_records

from ..conftest import bearer

HYPERLINK = '=HYPERLINK("http://evil")'


def poison_crm(sources_file: Path) -> None:
    """Ada's record and orders as someone hostile typed them into a form the CRM stores."""
    with sqlite3.connect(sources_file.parent / "crm.db") as db:
        db.execute(
            "UPDATE customers SET first_name = ?, last_name = ? WHERE id = 'cus_1'", (HYPERLINK, "@SUM(1+1)")
        )
        db.execute("DELETE FROM orders WHERE customer_id = 'cus_1'")
        db.executemany(
            "INSERT INTO orders (id, customer_id, total, shipping_address) VALUES (?, 'cus_1', ?, ?)",
            [
                (101, -5.25, "+49 30 1234 cmd|' /C calc'!A0"),
                (102, 12.5, "-2+3"),
                (103, 0, "\t=1+1"),
                (104, -1, "\r=1+1"),
                (105, 7, "-12.50"),
                (106, 8, "1 Analytical Way"),
                (107, 9, "\uff1dHYPERLINK()"),
            ],
        )


def read_csv(archive: zipfile.ZipFile, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(archive.read(name).decode("utf-8"), newline="")))


async def test_formula_cells_in_the_package_csv_are_written_as_text(
    client: httpx.AsyncClient, keys: dict[str, str], sources_file: Path
) -> None:
    poison_crm(sources_file)
    operator = bearer(keys["operator"])
    submitted = await client.post(
        "/v1/privacy-requests", json={"type": "access", "customer_id": "cus_1"}, headers=operator
    )
    assert submitted.status_code == 201, submitted.text
    response = await client.get(
        f"/v1/privacy-requests/{submitted.json()['id']}/data", params={"format": "zip"}, headers=operator
    )
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(io.BytesIO(response.content))

    header, *customers = read_csv(archive, "crm/customers.csv")
    [ada] = [dict(zip(header, row, strict=True)) for row in customers]
    assert ada["first_name"] == "'" + HYPERLINK
    assert ada["last_name"] == "'@SUM(1+1)"
    assert ada["email"] == "ada@example.com"

    header, *orders = read_csv(archive, "crm/orders.csv")
    by_id = {row["id"]: row for row in (dict(zip(header, r, strict=True)) for r in orders)}
    assert {key: row["shipping_address"] for key, row in by_id.items()} == {
        "101": "'+49 30 1234 cmd|' /C calc'!A0",
        "102": "'-2+3",
        "103": "'\t=1+1",
        "104": "'\r=1+1",
        "105": "-12.50",  # a number written as text is no formula
        "106": "1 Analytical Way",
        "107": "'\uff1dHYPERLINK()",
    }
    # Numbers stay numbers: no apostrophe in front of a negative amount.
    assert by_id["101"]["total"] == "-5.25"
    assert by_id["104"]["total"] == "-1.0"

    # data.json is the faithful copy.
    data = json.loads(archive.read("data.json"))
    [record] = data["sources"]["crm"]["customers"]
    assert record["first_name"] == HYPERLINK
    addresses = {row["id"]: row["shipping_address"] for row in data["sources"]["crm"]["orders"]}
    assert addresses[101] == "+49 30 1234 cmd|' /C calc'!A0"
    assert addresses[103] == "\t=1+1"
    assert {row["id"]: row["total"] for row in data["sources"]["crm"]["orders"]}[101] == -5.25


def test_column_names_and_nested_values_from_a_remote_source_are_defused(tmp_path: Path) -> None:
    # An HTTP source chooses its own keys and may send nested values.
    spool = Spool(tmp_path, {"loyalty": ["points"]})
    spool.add("loyalty", "points", [{"=cmd()": "-x", "ok": {"a": "=1"}, "n": -3}])
    text = b"".join(spool.csv_chunks("loyalty", "points")).decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["'=cmd()", "ok", "n"],
        ["'-x", '{"a": "=1"}', "-3"],
    ]


class _DriverText(str):
    """Text as some drivers hand it out: a subclass of str."""


def test_a_sql_batch_is_defused_whatever_its_text_columns_hold(tmp_path: Path) -> None:
    # A SQL source's batch comes with its rows: the formula check looks at its text columns, of any kind of text.
    keys = ["id", "note", "mixed", "stamp", "blob", "empty"]
    rows = [
        (1, _DriverText("=HYPERLINK(1)"), 7, date(2026, 1, 2), b"\xf8\xff", None),
        (2, _DriverText("plain"), "@SUM(1)", date(2026, 1, 3), b"ok", None),
    ]
    records = json_records(keys, rows)
    assert isinstance(records, Records)
    spool = Spool(tmp_path, {"crm": ["notes"]})
    spool.add("crm", "notes", records)
    text = b"".join(spool.csv_chunks("crm", "notes")).decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        keys,
        ["1", "'=HYPERLINK(1)", "7", "2026-01-02", "'+P8=", ""],
        ["2", "plain", "'@SUM(1)", "2026-01-03", "b2s=", ""],
    ]
    # data.json keeps the values as they are.
    assert [record["note"] for record in records] == ["=HYPERLINK(1)", "plain"]


def test_text_a_driver_hands_out_as_a_subclass_of_str_is_defused(tmp_path: Path) -> None:
    records = json_records(["id", "note"], [(1, _DriverText("=HYPERLINK(1)")), (2, _DriverText("fine"))])
    spool = Spool(tmp_path, {"crm": ["notes"]})
    spool.add("crm", "notes", records)
    text = b"".join(spool.csv_chunks("crm", "notes")).decode()
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["id", "note"],
        ["1", "'=HYPERLINK(1)"],
        ["2", "fine"],
    ]
