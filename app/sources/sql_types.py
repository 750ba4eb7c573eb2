"""The types of the columns a SQL source compares with a customer's id or email, read from the database.

A customer id arrives as text (``"42"``, ``"cus_1"``, a UUID). Bound as text against an integer or UUID column,
PostgreSQL refuses the comparison (``operator does not exist: integer = character varying``) and MySQL compares
numerically (``'cus_1' = 0`` is true). So each compared column's type is read once per source (SQLAlchemy's
inspector) and the id is bound as that type: an integer column gets an integer, a UUID column a UUID, and an id
that such a column cannot hold matches nothing there. A column no identity or link value can ever fit (an email
matched on an integer column, a customer id on a date) is a configuration error that no retry can fix: it is
reported naming the source, the table and the column.

SQLite is not read: its columns take any value, and comparisons convert by column affinity already.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from sqlalchemy import Connection, Integer, String, Uuid, inspect
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

Kind = Literal["integer", "text", "uuid", "any", "other"]
KEY_KINDS: frozenset[Kind] = frozenset({"integer", "text", "uuid", "any"})
TEXT_KINDS: frozenset[Kind] = frozenset({"text", "any"})
# Integers a 64-bit column can hold; longer digit strings cannot be ids there.
_INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
_NO_MATCH = object()


class UuidText(TypeDecorator[str]):
    """A UUID column of MySQL or MariaDB: compared with the UUID's canonical text."""

    impl = String
    cache_ok = True


def kind_of(type_: TypeEngine[Any]) -> Kind:
    """Which family a reflected column type belongs to, for binding and checking."""
    if isinstance(type_, Integer):
        return "integer"
    if isinstance(type_, Uuid):
        return "uuid"
    if isinstance(type_, String):
        return "text"
    if isinstance(type_, NullType):
        return "any"  # a type SQLAlchemy does not know (a domain, an extension's type): bound as given
    return "other"


def bind_type(kind: Kind, dialect: str, address: TypeEngine[Any] | None = None) -> TypeEngine[Any]:
    """The type a value compared with a column of ``kind`` is bound as; ``address``: the column's reflected type
    when an address is compared with it."""
    if isinstance(address, CITEXT):
        # Bound as varchar, PostgreSQL would compare the column as text: with case, and past its index.
        return CITEXT()
    if kind == "integer":
        return Integer()
    if kind == "uuid":
        return Uuid() if dialect == "postgresql" else UuidText()
    if kind == "text":
        return String()
    return NullType()


def column_types(conn: Connection, table: str, schema: str | None) -> dict[str, TypeEngine[Any]] | None:
    """Each column's type in ``table``, or None when the table does not exist (its queries then fail with
    the database's own words, as a missing table always did)."""
    try:
        return {str(c["name"]): c["type"] for c in inspect(conn).get_columns(table, schema=schema)}
    except NoSuchTableError:
        return None


def key_value(col: ColumnClause[Any], value: str) -> Any:
    """``value`` converted for comparison with ``col`` (typed with :func:`bind_type`), or :data:`_NO_MATCH`
    when the column cannot hold it (``cus_1`` against an integer column)."""
    type_ = col.type
    if isinstance(type_, Integer):
        return int(value) if _INTEGER.match(value) else _NO_MATCH
    if isinstance(type_, Uuid):
        return _as_uuid(value)
    if isinstance(type_, UuidText):
        parsed = _as_uuid(value)
        return parsed if parsed is _NO_MATCH else str(parsed)
    return value


def matches_nothing(value: Any) -> bool:
    return value is _NO_MATCH


def _as_uuid(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError:
        return _NO_MATCH


def describe(type_: TypeEngine[Any] | None) -> str:
    """A column type as the database names it, for messages."""
    if type_ is None:
        return "unknown type"
    try:
        return str(type_)
    except Exception:  # some reflected types cannot be compiled without a dialect
        return type(type_).__name__


def key_problem(where: str, kind: Kind, type_: TypeEngine[Any] | None, target: str) -> str | None:
    """Why a column of ``kind`` cannot be matched on ``target`` (``customer_id`` or ``email``), or None."""
    if target == "customer_id" and kind not in KEY_KINDS:
        return f"{where} is {describe(type_)}: a customer id can only be matched on an integer, text or UUID column"
    if target == "email" and kind not in TEXT_KINDS:
        return f"{where} is {describe(type_)}: an email address can only be matched on a text column"
    return None
