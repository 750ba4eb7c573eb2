"""How a SQL source finds an address whatever its case, and whether an index serves that.

Addresses are stored in whatever case the customer typed them, so a source compares ``lower(column)`` with the
lowercased address. A plain index on the column cannot serve ``lower(column)``: without an index on that
expression, every look-up by email reads the whole table (a million customers on PostgreSQL: about 200 ms of
the database's time per submit; and anyone holding the public app key can ask for unknown addresses). So, read
once with the column types (:mod:`app.sources.sql_types`), per column compared with an email:

- a column that compares without case by itself (PostgreSQL ``citext``; a MySQL/MariaDB ``_ci`` collation, their
  default) is compared directly, ``column = address``, found through its plain index. A ``_ci`` collation also
  takes accented letters for plain ones (``gmàil`` = ``gmail``) and ``ß`` for ``ss``, as ``lower(column)``
  compared under it always did: someone holding a look-alike domain could have had another person's rows. So on
  MySQL/MariaDB the rows the index finds must also be the address exactly once lowercased (compared byte for byte,
  ``utf8mb4_bin``);
- otherwise ``lower(column) = address`` stays, and when no index serves it (PostgreSQL: none on
  ``lower(column)``; MySQL/MariaDB: a case-sensitive or binary collation) the source says so once, naming the
  source, table and column and what to create.

SQLite is not read (as for the types): ``lower(column)`` is compared there, served by an index on it if any.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import BindParameter, ColumnElement, Connection, String, and_, cast, func, text
from sqlalchemy.dialects.mysql import CHAR
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import TypeEngine

# folds: the column compares without case itself; indexed: lower(column) has an index; scan: neither.
CaseMatch = Literal["folds", "indexed", "scan"]

# Casts and quoting that PostgreSQL adds when it prints an index's expression: lower((email)::text).
_PG_NOISE = re.compile(r"::\s*(?:text|character varying|varchar)(?:\(\d+\))?|[\s\"()]")


# An address: the lowercased text, or a bound parameter standing for it (a statement built once, bound per call).
Address = str | BindParameter[Any]
# How a column is compared with a lowercased address.
Matcher = Callable[[ColumnClause[Any], Address], ColumnElement[bool]]


def lowered(col: ColumnClause[Any], address: Address) -> ColumnElement[bool]:
    """``lower(column) = address``: any column, any database; an index on ``lower(column)`` serves it. Typed as
    text, so a bound parameter is bound as the text it stands for would be."""
    return func.lower(col, type_=String()) == address


def _direct(col: ColumnClause[Any], address: Address) -> ColumnElement[bool]:
    return col == address


def _collated_then_exact(col: ColumnClause[Any], address: Address) -> ColumnElement[bool]:
    exact = cast(func.lower(col), CHAR(charset="utf8mb4")).collate("utf8mb4_bin")
    return and_(col == address, exact == address)


def matcher(found: EmailColumn | None, dialect: str) -> Matcher:
    """How to compare a column read as ``found`` (None: not read, as on SQLite) on ``dialect``."""
    if found is None or found.match != "folds":
        return lowered
    return _collated_then_exact if dialect in ("mysql", "mariadb") else _direct


@dataclass(frozen=True)
class EmailColumn:
    """How one column compared with an address is matched, and what to say when nothing serves it."""

    match: CaseMatch
    advice: str | None = None


def email_column(
    conn: Connection,
    *,
    source: str,
    table: str,
    column: str,
    schema: str | None,
    type_: TypeEngine[Any] | None,
) -> EmailColumn:
    """Read how ``table.column`` can be matched with an address (PostgreSQL, MySQL/MariaDB)."""
    dialect = conn.dialect.name
    qualified = f"{schema}.{table}" if schema else table
    where = f"source {source}: {qualified}.{column} is matched with an address whatever its case"
    if dialect == "postgresql":
        if isinstance(type_, CITEXT):
            return EmailColumn("folds")
        if _pg_lower_index(conn, table=table, column=column, schema=schema):
            return EmailColumn("indexed")
        preparer = conn.dialect.identifier_preparer
        target = (
            preparer.quote(table) if schema is None else f"{preparer.quote(schema)}.{preparer.quote(table)}"
        )
        return EmailColumn(
            "scan",
            f"{where}, lower({column}), and no index serves that: every look-up by email reads the whole "
            f"table. Create one: CREATE INDEX ON {target} (lower({preparer.quote(column)}))",
        )
    if dialect in ("mysql", "mariadb"):
        collation = _mysql_collation(conn, table=table, column=column, schema=schema)
        if collation is None:  # not a text column, or no such table: its queries say so themselves
            return EmailColumn("scan")
        if collation.lower().endswith("_ci"):
            return EmailColumn("folds")
        return EmailColumn(
            "scan",
            f"{where}, but its collation {collation} tells case apart, so lower({column}) is compared and no "
            "index serves it: every look-up by email reads the whole table. Give the column a case-insensitive "
            f"collation (utf8mb4_unicode_ci, say) and an index",
        )
    return EmailColumn("scan")


def _pg_lower_index(conn: Connection, *, table: str, column: str, schema: str | None) -> bool:
    """Whether a whole-table B-tree or hash index of ``table`` starts with ``lower(column)``."""
    preparer = conn.dialect.identifier_preparer
    relation = (
        preparer.quote(table) if schema is None else f"{preparer.quote(schema)}.{preparer.quote(table)}"
    )
    rows = conn.execute(
        text(
            "SELECT pg_get_indexdef(i.indexrelid, 1, true) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "WHERE i.indrelid = to_regclass(:relation) AND i.indpred IS NULL AND i.indisvalid "
            "AND am.amname IN ('btree', 'hash')"
        ),
        {"relation": relation},
    )
    wanted = f"lower{column}"
    return any(_PG_NOISE.sub("", str(first)) == wanted for (first,) in rows)


def _mysql_collation(conn: Connection, *, table: str, column: str, schema: str | None) -> str | None:
    row = conn.execute(
        text(
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(:schema, "
            "DATABASE()) AND TABLE_NAME = :table AND COLUMN_NAME = :column"
        ),
        {"schema": schema, "table": table, "column": column},
    ).first()
    return None if row is None or row[0] is None else str(row[0])
