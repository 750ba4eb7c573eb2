"""A SQL source: any SQLAlchemy database reached with a sync driver on a worker thread.

Entities are matched on the request's identity or on another entity's column; the latter becomes a subquery
(``order_id IN (SELECT id FROM orders WHERE customer_id = :id)``), so a customer with 200,000 orders never puts
200,000 keys into Python or into one giant ``IN`` list.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, create_engine, func, literal_column, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause, TableClause, column, table

from app.sources.base import Customer, Identity, SourceError
from app.sources.config import SqlEntity, SqlSource
from app.sources.values import json_records

BATCH_ROWS = 1000
# Per statement (also for erasure reads): Connection.execution_options() would change the connection for
# every later statement, the DELETEs and UPDATEs too.
STREAM = {"stream_results": True, "yield_per": BATCH_ROWS}


def identity_clause(col: ColumnClause[Any], target: str, identity: Identity) -> ColumnElement[bool] | None:
    """``col`` equals the identity's ``customer_id`` or ``email`` (``target``), or None when it lacks that key."""
    if target == "customer_id":
        return None if identity.customer_id is None else col == identity.customer_id
    # Addresses are stored in whatever case the customer typed them.
    return None if identity.email is None else func.lower(col) == identity.email


class SqlDataSource:
    """Reads, looks up and (with :mod:`app.sources.sql_erase`) erases one SQL source's entities."""

    def __init__(self, config: SqlSource, *, url: str, order: list[str]) -> None:
        self.name = config.name
        self.config = config
        self.order = order
        self.entities = {entity.name: entity for entity in config.entities}
        # pool_pre_ping: a source database restarted between two requests must not fail the next one.
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self.tables = {entity.name: self._table_of(entity) for entity in config.entities}

    def _table_of(self, entity: SqlEntity) -> TableClause:
        # Only the columns the queries name; rows are read with SELECT * so every column reaches the package.
        names = set(entity.match) | set(entity.erase.columns)
        for other in self.config.entities:
            for target in other.match.values():
                parent, _, parent_column = target.partition(".")
                if parent == entity.name:
                    names.add(parent_column)
        return table(entity.table, *(column(name) for name in sorted(names)), schema=self.config.db_schema)

    def condition(self, name: str, identity: Identity) -> ColumnElement[bool] | None:
        """Which rows of an entity belong to the identity (matches are OR-ed), or None when none can."""
        entity = self.entities[name]
        rows = self.tables[name]
        clauses: list[ColumnElement[bool]] = []
        for column_name, target in entity.match.items():
            col = rows.c[column_name]
            if target in ("customer_id", "email"):
                if (clause := identity_clause(col, target, identity)) is not None:
                    clauses.append(clause)
            else:
                parent, _, parent_column = target.partition(".")
                parent_condition = self.condition(parent, identity)
                if parent_condition is not None:
                    parent_rows = self.tables[parent]
                    # correlate(None): two entities may share a table; never merge the subquery into the outer FROM.
                    keys = select(parent_rows.c[parent_column]).where(parent_condition).correlate(None)
                    clauses.append(col.in_(keys.scalar_subquery()))
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else or_(*clauses)

    def collect_batches(self, identity: Identity) -> Generator[tuple[str, list[dict[str, Any]]], None, None]:
        """Blocking: each entity's rows (parents first) in batches, streamed from a server-side cursor."""
        try:
            with self.engine.connect() as conn:
                for name in self.order:
                    condition = self.condition(name, identity)
                    if condition is None:
                        continue
                    query: Select[Any] = (
                        select(literal_column("*")).select_from(self.tables[name]).where(condition)
                    )
                    result = conn.execute(query, execution_options=STREAM)
                    keys = list(result.keys())
                    # Rows as tuples, converted column by column: far cheaper than a mapping per row.
                    for part in result.partitions():
                        yield name, json_records(keys, part)
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def find_customer(self, *, customer_id: str | None, email: str | None) -> Customer | None:
        """Blocking: the directory record by id, else by email (case-insensitive), or None."""
        directory = self.config.directory
        assert directory is not None
        columns = [directory.id, directory.email, *directory.name]
        rows = table(
            directory.table, *(column(c) for c in dict.fromkeys(columns)), schema=self.config.db_schema
        )
        if customer_id is not None:
            where = rows.c[directory.id] == customer_id
        elif email is not None:
            where = func.lower(rows.c[directory.email]) == email.strip().lower()
        else:
            return None
        query = select(*(rows.c[c] for c in dict.fromkeys(columns))).where(where).limit(1)
        try:
            with self.engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except SQLAlchemyError as exc:
            raise self.error(exc) from None
        if row is None:
            return None
        name = " ".join(str(row[c]) for c in directory.name if row[c]) or None
        found_email = row[directory.email]
        return Customer(id=str(row[directory.id]), email=str(found_email) if found_email else None, name=name)

    def check_readable(self, identity: Identity) -> None:
        """Blocking: count each entity's rows, so a broken table or column fails the dry run, not the erasure."""
        try:
            with self.engine.connect() as conn:
                for name in self.order:
                    condition = self.condition(name, identity)
                    if condition is not None:
                        conn.execute(select(func.count()).select_from(self.tables[name]).where(condition))
        except SQLAlchemyError as exc:
            raise self.error(exc) from None

    def error(self, exc: SQLAlchemyError) -> SourceError:
        """A SourceError naming the source and the driver's first line (never the URL: it may hold a password)."""
        original = getattr(exc, "orig", None) or exc
        first_line = (str(original).strip().splitlines() or [""])[0]
        return SourceError(self.name, f"database error ({type(original).__name__}): {first_line}")

    def dispose(self) -> None:
        self.engine.dispose()
