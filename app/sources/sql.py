"""A SQL source: any SQLAlchemy database reached with a sync driver on a worker thread.

Values compared with a customer's id are bound as the column's type, read from the database on first use
(:mod:`app.sources.sql_types`): integer, text and UUID keys all work on PostgreSQL, MySQL/MariaDB and SQLite.

Entities are matched on the request's identity or on another entity's column; the latter becomes a subquery
(``order_id IN (SELECT id FROM orders WHERE customer_id = :id)``), so a customer with 200,000 orders never puts
200,000 keys into Python or into one giant ``IN`` list.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from contextlib import ExitStack, closing
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    RowMapping,
    Select,
    bindparam,
    create_engine,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause, TableClause, column, table
from sqlalchemy.types import TypeEngine

from app.sources.base import Customer, Identity, SourceError
from app.sources.config import IDENTITIES, SqlEntity, SqlSource
from app.sources.sql_case import EmailColumn, Matcher, email_column, lowered, matcher
from app.sources.sql_types import (
    Kind,
    bind_type,
    column_types,
    describe,
    key_problem,
    key_value,
    kind_of,
    matches_nothing,
)
from app.sources.values import json_records

T = TypeVar("T")
log = logging.getLogger("app.sources")
# What this process has said about a column no index serves: once, though start-up's check and each of the
# process's own sources read the columns.
_ADVISED: set[str] = set()

BATCH_ROWS = 1000
# Per statement (also for erasure reads): Connection.execution_options() would change the connection for
# every later statement, the DELETEs and UPDATEs too.
STREAM = {"stream_results": True, "yield_per": BATCH_ROWS}


def target_value(col: ColumnClause[Any], target: str, identity: Identity) -> Any:
    """What ``col`` is compared with for the identity's ``customer_id`` or ``email`` (``target``), or None when
    the identity lacks that key or the column cannot hold it (``cus_1`` against an integer column)."""
    if target == "customer_id":
        if identity.customer_id is None:
            return None
        # Bound as the column's type (converted here to what that type takes).
        value = key_value(col, identity.customer_id)
        return None if matches_nothing(value) else value
    # Addresses are stored in whatever case the customer typed them.
    return identity.email


def compared(
    col: ColumnClause[Any], target: str, value: Any, *, match: Matcher = lowered
) -> ColumnElement[bool]:
    """``col`` compared with ``value`` (from :func:`target_value`, or a bound parameter standing for it). ``match``:
    how the column is compared with an address (:mod:`app.sources.sql_case`)."""
    return col == value if target == "customer_id" else match(col, value)


def identity_clause(
    col: ColumnClause[Any], target: str, identity: Identity, *, match: Matcher = lowered
) -> ColumnElement[bool] | None:
    """``col`` equals the identity's ``customer_id`` or ``email`` (``target``), or None when it cannot."""
    value = target_value(col, target, identity)
    return None if value is None else compared(col, target, value, match=match)


class SqlDataSource:
    """Reads, looks up and (with :mod:`app.sources.sql_erase`) erases one SQL source's entities."""

    def __init__(self, config: SqlSource, *, url: str, order: list[str]) -> None:
        self.name = config.name
        self.config = config
        self.order = order
        self.entities = {entity.name: entity for entity in config.entities}
        # Erasures (a transaction) and reads too large for one query (a server-side cursor needs one):
        # pool_pre_ping, so a source database restarted between two requests does not fail the next one.
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        # Look-ups and the reads of a few rows: in autocommit, each query alone on the wire, with no
        # pre-ping, BEGIN and ROLLBACK around it (a look-up at submit was four round trips, each a hop
        # between the driver's thread and the event loop). A connection the database dropped fails its
        # query and invalidates the pool; the read is tried once more on a fresh connection (``_reading``).
        self.reads: Engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        self._columns = {entity.name: self._columns_of(entity) for entity in config.entities}
        self.tables = {
            entity.name: self._table(entity.table, self._columns[entity.name]) for entity in config.entities
        }
        self.directory_table: TableClause | None = None
        if config.directory is not None:
            directory = config.directory
            self._directory_columns = list(dict.fromkeys([directory.id, directory.email, *directory.name]))
            self.directory_table = self._table(directory.table, self._directory_columns)
        # Columns compared with an address, read with the types: how each is matched (lower() until read).
        self.email_columns: dict[tuple[str, str], EmailColumn] = {}
        self._typed = False
        self._typing = threading.Lock()
        # The bound parameter of each column matched on the identity (names, not the entities' own words).
        self._params = {
            (entity.name, column_name): f"m{number}"
            for number, (entity, column_name) in enumerate(
                (entity, column_name)
                for entity in config.entities
                for column_name, target in entity.match.items()
                if target in IDENTITIES
            )
        }
        # Per entity, the parameters its read binds (its own matched columns' and its parents').
        self._uses = {entity.name: self._parameters_of(entity.name) for entity in config.entities}
        # The look-ups and reads, built once the columns are typed and bound per call: building such a statement
        # cost the process more than the database's answer to it (300 against 55 µs for a look-up).
        self._statements: dict[tuple[Any, ...], Any] = {}

    def _parameters_of(self, name: str) -> frozenset[str]:
        used: set[str] = set()
        for column_name, target in self.entities[name].match.items():
            if target in IDENTITIES:
                used.add(self._params[name, column_name])
            else:
                used |= self._parameters_of(target.partition(".")[0])
        return frozenset(used)

    def address_match(self, table_name: str, column_name: str) -> Matcher:
        """How ``table_name.column_name`` is compared with an address (``lower()`` until the column is read)."""
        return matcher(self.email_columns.get((table_name, column_name)), self.engine.dialect.name)

    def _columns_of(self, entity: SqlEntity) -> list[str]:
        # Only the columns the queries name; rows are read with SELECT * so every column reaches the package.
        names = set(entity.match) | set(entity.erase.columns)
        for other in self.config.entities:
            for target in other.match.values():
                parent, _, parent_column = target.partition(".")
                if parent == entity.name:
                    names.add(parent_column)
        return sorted(names)

    def _table(
        self, name: str, columns: list[str], types: dict[str, TypeEngine[Any]] | None = None
    ) -> TableClause:
        types = types or {}
        return table(name, *(column(c, types.get(c)) for c in columns), schema=self.config.db_schema)

    def prepare(self, conn: Connection, *, directory_only: bool = False) -> None:
        """Type the compared columns from the database, once (not SQLite: its columns take any value).

        Raises SourceError (not retryable) naming the table and column when one can never match: a customer
        id on a date column, an email on an integer one, a link between columns of different kinds, a
        ``redact`` or ``hash`` on a column that cannot hold text. ``directory_only``: only the directory's
        columns count (a broken entity does not stop customers being identified). Fixing the source's schema
        fixes the next attempt: the types are read again until they are right.
        """
        if self._typed:
            return
        with self._typing:
            if self._typed:
                return
            if conn.dialect.name == "sqlite":
                self._typed = True
                return
            directory_problems, entity_problems = self._type_columns(conn)
            for found in self.email_columns.values():
                if found.advice is not None and found.advice not in _ADVISED:
                    _ADVISED.add(found.advice)
                    log.warning("%s", found.advice)
            problems = directory_problems if directory_only else directory_problems + entity_problems
            if problems:
                raise SourceError(self.name, "; ".join(problems), retryable=False)
            self._typed = not (directory_problems or entity_problems)

    def _type_columns(self, conn: Connection) -> tuple[list[str], list[str]]:
        """Type the tables' columns; the problems found in the directory's columns and in the entities'."""
        schema = self.config.db_schema
        reflected: dict[str, dict[str, TypeEngine[Any]] | None] = {}

        def type_of(table_name: str, column_name: str) -> TypeEngine[Any] | None:
            if table_name not in reflected:
                reflected[table_name] = column_types(conn, table_name, schema)
            columns = reflected[table_name]
            return None if columns is None else columns.get(column_name)

        def kind(table_name: str, column_name: str) -> Kind:
            # A missing table or column: its queries fail with the database's own words.
            found = type_of(table_name, column_name)
            return "any" if found is None else kind_of(found)

        def where(table_name: str, column_name: str) -> str:
            prefix = f"{schema}." if schema else ""
            return f"table {prefix}{table_name}, column {column_name}"

        directory_problems: list[str] = []
        problems: list[str] = []
        directory = self.config.directory
        if directory is not None:
            for column_name, target in ((directory.id, "customer_id"), (directory.email, "email")):
                found = kind(directory.table, column_name)
                at = where(directory.table, column_name)
                if (
                    problem := key_problem(at, found, type_of(directory.table, column_name), target)
                ) is not None:
                    directory_problems.append(problem)
        for entity in self.config.entities:
            for column_name, target in entity.match.items():
                found = kind(entity.table, column_name)
                at = where(entity.table, column_name)
                if target in IDENTITIES:
                    problem = key_problem(at, found, type_of(entity.table, column_name), target)
                    if problem is not None:
                        problems.append(problem)
                    continue
                parent, _, parent_column = target.partition(".")
                parent_table = self.entities[parent].table
                linked = kind(parent_table, parent_column)
                if found != linked and "any" not in (found, linked):
                    problems.append(
                        f"{at} is {describe(type_of(entity.table, column_name))} but is matched on "
                        f"{where(parent_table, parent_column)}, which is "
                        f"{describe(type_of(parent_table, parent_column))}"
                    )
            for column_name, how in entity.erase.columns.items():
                if how in ("redact", "hash") and kind(entity.table, column_name) not in ("text", "any"):
                    found_type = describe(type_of(entity.table, column_name))
                    problems.append(
                        f"{where(entity.table, column_name)} is {found_type}: {how} writes text into it"
                    )
        dialect = conn.dialect.name
        # The columns compared with an address (only these bind as citext on a citext column: an id compared
        # as citext would match ids differing in case, where it was compared as text before).
        compared = [(directory.table, directory.email)] if directory is not None else []
        compared += [(e.table, c) for e in self.config.entities for c, t in e.match.items() if t == "email"]

        def typed(table_name: str, columns: list[str]) -> TableClause:
            types = {
                c: bind_type(
                    kind(table_name, c),
                    dialect,
                    type_of(table_name, c) if (table_name, c) in compared else None,
                )
                for c in columns
            }
            return self._table(table_name, columns, types)

        self.tables = {e.name: typed(e.table, self._columns[e.name]) for e in self.config.entities}
        if directory is not None:
            self.directory_table = typed(directory.table, self._directory_columns)
        self.email_columns = {
            (table_name, column_name): email_column(
                conn,
                source=self.name,
                table=table_name,
                column=column_name,
                schema=schema,
                type_=type_of(table_name, column_name),
            )
            for table_name, column_name in dict.fromkeys(compared)
            if type_of(table_name, column_name) is not None  # a missing one fails with the database's words
        }
        return directory_problems, problems

    def check_schema(self) -> str | None:
        """Blocking, for start-up: read the compared columns' types now. Raises SourceError (not retryable)
        for a column that can never match; returns why the database could not be read, or None. SQLite is
        not even opened (its columns take any value, and opening a missing file would create it)."""
        if self.engine.dialect.name == "sqlite":
            return None
        try:
            with self.engine.connect() as conn:
                self.prepare(conn)
        except SQLAlchemyError as exc:
            return str(self.error(exc))
        return None

    def match_values(self, identity: Identity) -> dict[str, Any]:
        """The values ``identity`` binds to the columns matched on it, by parameter name; a column it gives
        nothing for (no address; an id the column cannot hold) has none. After :meth:`prepare` (the types)."""
        values: dict[str, Any] = {}
        for (name, column_name), param in self._params.items():
            target = self.entities[name].match[column_name]
            value = target_value(self.tables[name].c[column_name], target, identity)
            if value is not None:
                values[param] = value
        return values

    def condition(self, name: str, identity: Identity) -> ColumnElement[bool] | None:
        """Which rows of an entity belong to the identity (matches are OR-ed), or None when none can."""
        return self._condition(name, self.match_values(identity).get)

    def _condition(self, name: str, bind: Callable[[str], Any]) -> ColumnElement[bool] | None:
        """:meth:`condition`, each matched column compared with ``bind(its parameter)``: a value of
        :meth:`match_values`, a bound parameter, or None (no clause)."""
        entity = self.entities[name]
        rows = self.tables[name]
        clauses: list[ColumnElement[bool]] = []
        for column_name, target in entity.match.items():
            col = rows.c[column_name]
            if target in IDENTITIES:
                value = bind(self._params[name, column_name])
                if value is not None:
                    match = self.address_match(entity.table, column_name)
                    clauses.append(compared(col, target, value, match=match))
            else:
                parent, _, parent_column = target.partition(".")
                parent_condition = self._condition(parent, bind)
                if parent_condition is not None:
                    parent_rows = self.tables[parent]
                    # correlate(None): two entities may share a table; never merge the subquery into the outer FROM.
                    keys = select(parent_rows.c[parent_column]).where(parent_condition).correlate(None)
                    clauses.append(col.in_(keys.scalar_subquery()))
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else or_(*clauses)

    def collect_batches(self, identity: Identity) -> Generator[tuple[str, list[dict[str, Any]]], None, None]:
        """Blocking: each entity's rows (parents first) in batches.

        Most customers have a few rows: each entity is first read whole with a plain query limited to one batch
        and a row (one round trip, in autocommit). Only when that limit is hit is the entity read again, from
        the start, through a server-side cursor in batches (in a transaction, on a connection of its own), so a
        customer with 200,000 rows is never held in memory. Rows are only ever handed out from one complete
        query, never stitched from two. A connection the database dropped is replaced once, before any row
        was handed out.
        """
        for attempt in (1, 2):
            handed_out = False
            try:
                with closing(self._collect(identity)) as batches:
                    for batch in batches:
                        handed_out = True
                        yield batch
                return
            except DBAPIError as exc:
                if attempt == 2 or handed_out or not exc.connection_invalidated:
                    raise self.error(exc) from None
            except SQLAlchemyError as exc:
                raise self.error(exc) from None

    def _collect(self, identity: Identity) -> Generator[tuple[str, list[dict[str, Any]]], None, None]:
        with self.reads.connect() as conn, ExitStack() as streams:
            self.prepare(conn)
            final = self._typed  # read first: once True, the tables are typed for good
            values = self.match_values(identity)
            for name in self.order:
                reads = self._reads(name, frozenset(values) & self._uses[name], final=final)
                if reads is None:
                    continue
                query, first = reads
                probe = conn.execute(first, values)
                keys = list(probe.keys())
                rows = probe.fetchall()
                if len(rows) <= BATCH_ROWS:
                    if rows:
                        yield name, json_records(keys, rows)
                    continue
                del rows
                result = streams.enter_context(self.engine.connect()).execute(
                    query, values, execution_options=STREAM
                )
                keys = list(result.keys())
                # Rows as tuples, converted column by column: far cheaper than a mapping per row.
                for part in result.partitions():
                    yield name, json_records(keys, part)
                streams.close()

    def _built(self, key: tuple[Any, ...], build: Callable[[], T], *, final: bool) -> T:
        """The statement ``build`` makes, kept under ``key`` when ``final``: ``self._typed`` read before any of
        the typed tables the caller or ``build`` reads (until it is True they may be typed again, by another
        thread too, and the statement is built for this call only)."""
        if not final:
            return build()
        try:
            return cast(T, self._statements[key])
        except KeyError:
            statement = self._statements[key] = build()
            return statement

    def _reads(
        self, name: str, bound: frozenset[str], *, final: bool
    ) -> tuple[Select[Any], Select[Any]] | None:
        """The whole read of ``name``'s rows of an identity that binds the parameters ``bound`` (of those the
        read uses), and its first batch and a row; None when no row can match. ``final``: see :meth:`_built`."""

        def build() -> tuple[Select[Any], Select[Any]] | None:
            condition = self._condition(name, lambda param: bindparam(param) if param in bound else None)
            if condition is None:
                return None
            query: Select[Any] = select(literal_column("*")).select_from(self.tables[name]).where(condition)
            return query, query.limit(BATCH_ROWS + 1)

        return self._built(("read", name, bound), build, final=final)

    def find_customer(self, *, customer_id: str | None, email: str | None) -> Customer | None:
        """Blocking: the directory record by id, else by email (case-insensitive), or None."""
        directory = self.config.directory
        assert directory is not None
        if customer_id is None and email is None:
            return None
        try:
            row = self.read_once(lambda conn: self._find(conn, customer_id=customer_id, email=email))
        except SQLAlchemyError as exc:
            raise self.error(exc) from None
        if row is None:
            return None
        name = " ".join(str(row[c]) for c in directory.name if row[c]) or None
        found_email = row[directory.email]
        return Customer(id=str(row[directory.id]), email=str(found_email) if found_email else None, name=name)

    def read_once(self, read: Callable[[Connection], T]) -> T:
        """``read`` on a connection of ``reads``; one the database dropped (a restart, an idle timeout) fails
        its query, which invalidates it and every older one, and is replaced once: the query is the check."""
        with self.reads.connect() as conn:
            try:
                return read(conn)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
        with self.reads.connect() as conn:
            return read(conn)

    def _find(self, conn: Connection, *, customer_id: str | None, email: str | None) -> RowMapping | None:
        directory = self.config.directory
        assert directory is not None
        self.prepare(conn, directory_only=True)
        final = self._typed  # read first: once True, the tables are typed for good
        rows = self.directory_table
        assert rows is not None
        if customer_id is not None:
            target, column_name = "customer_id", directory.id
            value = key_value(rows.c[column_name], customer_id)
            if matches_nothing(value):
                return None  # an id the directory's key column cannot hold: nobody has it
        else:
            assert email is not None
            target, column_name, value = "email", directory.email, email.strip().lower()

        def build() -> Select[Any]:
            assert rows is not None
            match = self.address_match(directory.table, column_name)
            where = compared(rows.c[column_name], target, bindparam("value"), match=match)
            return select(*(rows.c[c] for c in self._directory_columns)).where(where).limit(1)

        query = self._built(("directory", target), build, final=final)
        return conn.execute(query, {"value": value}).mappings().first()

    def check_readable(self, identity: Identity) -> None:
        """Blocking: count each entity's rows, so a broken table or column fails the dry run, not the erasure."""

        def count(conn: Connection) -> None:
            self.prepare(conn)
            for name in self.order:
                condition = self.condition(name, identity)
                if condition is not None:
                    conn.execute(select(func.count()).select_from(self.tables[name]).where(condition))

        try:
            self.read_once(count)
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def error(self, exc: SQLAlchemyError) -> SourceError:
        """A SourceError naming the source and the driver's first line (never the URL: it may hold a password)."""
        original = getattr(exc, "orig", None) or exc
        first_line = (str(original).strip().splitlines() or [""])[0]
        return SourceError(self.name, f"database error ({type(original).__name__}): {first_line}")

    def dispose(self) -> None:
        self.engine.dispose()
        self.reads.dispose()
