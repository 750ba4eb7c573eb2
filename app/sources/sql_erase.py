"""Erasing one SQL source in one transaction, and checking afterwards that nothing which should be gone is left.

Children are handled before parents, because a child is found through its parent's rows. The parents' link
values are captured before anything changes: once a parent is deleted, its children can no longer be found
through it, and the check must still look for them.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, and_, case, delete, func, literal, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.sources.base import Identity
from app.sources.config import in_language
from app.sources.sql import STREAM, SqlDataSource, identity_clause
from app.sources.values import REDACTED, anonymized, is_anonymized

CHECK_BATCH = 500


@dataclass
class Captured:
    """Link values (``orders.id``) as they were before the erasure, spooled to temp files (bounded memory)."""

    files: dict[tuple[str, str], IO[bytes]] = field(default_factory=dict)

    def values(self, entity: str, column_name: str) -> Iterator[list[Any]]:
        spool = self.files.get((entity, column_name))
        if spool is not None:
            yield from _unspooled(spool)

    def close(self) -> None:
        for spool in self.files.values():
            spool.close()
        self.files.clear()


def _unspooled(spool: IO[bytes]) -> Iterator[Any]:
    """The batches pickled into ``spool``, from the start."""
    spool.seek(0)
    while True:
        try:
            yield pickle.load(spool)  # our own temp file, written just before
        except EOFError:
            return


def erase_source(
    source: SqlDataSource, identity: Identity, *, secret_key: str
) -> tuple[dict[str, Any], Captured]:
    """Blocking: erase the identity's rows per each entity's strategy in ONE transaction.

    Returns the source's part of the erasure report (entities in file order) and the captured link values for
    :func:`leftovers`. Safe to repeat: deleted rows are not found again, anonymised values stay as they are.
    """
    captured = Captured()
    report: dict[str, dict[str, Any]] = {}
    try:
        with source.engine.begin() as conn:
            source.prepare(conn)
            _capture_links(source, identity, conn, captured)
            for name in reversed(source.order):
                report[name] = _erase_entity(source, name, identity, conn, secret_key)
    except SQLAlchemyError as exc:
        captured.close()
        raise source.error(exc) from None
    except BaseException:
        captured.close()
        raise
    return {name: report[name] for name in source.entities}, captured


def _capture_links(source: SqlDataSource, identity: Identity, conn: Connection, captured: Captured) -> None:
    for entity in source.config.entities:
        for target in entity.match.values():
            parent, dot, parent_column = target.partition(".")
            if not dot or (parent, parent_column) in captured.files:
                continue
            spool = tempfile.TemporaryFile()
            captured.files[(parent, parent_column)] = spool
            condition = source.condition(parent, identity)
            if condition is None:
                continue
            rows = source.tables[parent]
            query = select(rows.c[parent_column]).where(condition).distinct()
            result = conn.execute(query, execution_options=STREAM)
            for part in result.scalars().partitions():
                pickle.dump(list(part), spool)


def _erase_entity(
    source: SqlDataSource, name: str, identity: Identity, conn: Connection, secret_key: str
) -> dict[str, Any]:
    entity = source.entities[name]
    erase = entity.erase
    condition = source.condition(name, identity)
    rows = source.tables[name]
    if erase.strategy == "delete":
        count = 0 if condition is None else conn.execute(delete(rows).where(condition)).rowcount
        return {"action": "deleted", "count": max(count, 0)}
    count = 0
    if condition is not None:
        count = conn.execute(select(func.count()).select_from(rows).where(condition)).scalar_one()
    if erase.strategy == "keep":
        # The API's reason is one text; the report's ``retention`` (added by DataSources) has every language.
        return {"action": "kept", "count": count, "reason": in_language(entity.retention)}
    if condition is not None and count:
        _anonymize(source, name, condition, conn, secret_key)
    return {"action": "anonymized", "count": count, "columns": dict(erase.columns)}


def _anonymize(
    source: SqlDataSource, name: str, condition: ColumnElement[bool], conn: Connection, secret_key: str
) -> None:
    rows = source.tables[name]
    columns = source.entities[name].erase.columns
    plain: dict[str, Any] = {}
    for column_name, how in columns.items():
        if how == "null":
            plain[column_name] = None
        elif how == "redact":
            col = rows.c[column_name]
            plain[column_name] = case((col.is_(None), None), else_=literal(REDACTED))
    hashed = [c for c, how in columns.items() if how == "hash"]
    if not hashed:
        conn.execute(update(rows).where(condition).values(plain))
        return
    # HMAC is computed in Python (no portable SQL for it), so rows are updated per distinct original value:
    # few in practice (a customer's email, phone). The distinct values are read in full before any update,
    # so rows whose match column changes are still each updated exactly once.
    distinct = select(*(rows.c[c] for c in hashed)).where(condition).distinct()
    with tempfile.TemporaryFile() as spool:
        result = conn.execute(distinct, execution_options=STREAM)
        for part in result.partitions():
            pickle.dump([tuple(row) for row in part], spool)
        batch: list[tuple[Any, ...]]
        for batch in _unspooled(spool):
            for original in batch:
                same = [
                    rows.c[c].is_(None) if value is None else rows.c[c] == value
                    for c, value in zip(hashed, original, strict=True)
                ]
                values = dict(plain)
                for c, value in zip(hashed, original, strict=True):
                    values[c] = anonymized("hash", value, secret_key=secret_key)
                conn.execute(update(rows).where(and_(condition, *same)).values(values))


def leftovers(source: SqlDataSource, identity: Identity, captured: Captured) -> list[str]:
    """Blocking: what the erasure should have removed but a fresh read still finds, as readable problems."""
    problems: list[str] = []
    try:
        with source.engine.connect() as conn:
            source.prepare(conn)
            for name in source.order:
                entity = source.entities[name]
                if entity.erase.strategy == "keep":
                    continue
                bad = sum(
                    _bad_rows(source, name, where, conn)
                    for where in _check_conditions(source, name, identity, captured)
                )
                if bad:
                    verb = "still exist" if entity.erase.strategy == "delete" else "are not anonymized"
                    problems.append(f"{source.name}.{name}: {bad} rows {verb}")
    except SQLAlchemyError as exc:
        raise source.error(exc) from None
    return problems


def _check_conditions(
    source: SqlDataSource, name: str, identity: Identity, captured: Captured
) -> Iterator[ColumnElement[bool]]:
    rows = source.tables[name]
    for column_name, target in source.entities[name].match.items():
        col = rows.c[column_name]
        if target in ("customer_id", "email"):
            match = source.address_match(source.entities[name].table, column_name)
            if (clause := identity_clause(col, target, identity, match=match)) is not None:
                yield clause
        elif "." in target:
            parent, _, parent_column = target.partition(".")
            for values in captured.values(parent, parent_column):
                for start in range(0, len(values), CHECK_BATCH):
                    yield col.in_(values[start : start + CHECK_BATCH])


def _bad_rows(source: SqlDataSource, name: str, where: ColumnElement[bool], conn: Connection) -> int:
    rows = source.tables[name]
    erase = source.entities[name].erase
    if erase.strategy == "delete":
        return int(conn.execute(select(func.count()).select_from(rows).where(where)).scalar_one())
    query = select(*(rows.c[c] for c in erase.columns)).where(where)
    bad = 0
    for part in conn.execute(query, execution_options=STREAM).partitions():
        for row in part:
            if not all(
                is_anonymized(how, value) for how, value in zip(erase.columns.values(), row, strict=True)
            ):
                bad += 1
    return bad
