"""All SQL about API keys, operators (people) and their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Operator, OperatorSession


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def all_keys(session: AsyncSession) -> list[ApiKey]:
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ApiKey)) or 0)


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def revoke(session: AsyncSession, key: ApiKey, *, at: datetime) -> ApiKey:
    """Set ``revoked_at`` unless it is set (the first revocation's time stays); the key as it now is."""
    await session.execute(
        update(ApiKey).where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    await session.refresh(key)
    return key


# Built once: every API call asks it, and building the statement cost more than running it.
_ACTIVE_KEY = select(ApiKey.id, ApiKey.name, ApiKey.role).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
)


async def find_active(session: AsyncSession, key_hash: str) -> tuple[uuid.UUID, str, str] | None:
    """``(id, name, role)`` of the unrevoked key with this hash."""
    # On the session's connection: the same transaction, without the ORM's execution around a plain row read.
    result = await (await session.connection()).execute(_ACTIVE_KEY, {"key_hash": key_hash})
    row = result.first()
    return None if row is None else (row[0], row[1], row[2])


# -- operators -------------------------------------------------------------------------------------------------


async def add_operator(session: AsyncSession, operator: Operator) -> Operator:
    session.add(operator)
    await session.flush()
    return operator


async def add_operator_unless_exists(session: AsyncSession, operator: Operator) -> bool:
    """``INSERT ... ON CONFLICT (email) DO NOTHING``; True when this row went in. On PostgreSQL a concurrent
    insert of the same email makes this wait for it to commit (then False) or roll back (then this one goes in).
    """
    table = cast(Table, Operator.__table__)
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    values = {column.key: getattr(operator, column.key) for column in table.columns}
    result = await session.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["email"]))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def all_operators(session: AsyncSession) -> list[Operator]:
    return list((await session.scalars(select(Operator).order_by(Operator.created_at, Operator.email))).all())


async def operator_by_email(session: AsyncSession, email: str) -> Operator | None:
    """``email`` is already lower case, as stored."""
    return await session.scalar(select(Operator).where(Operator.email == email))


async def get_operator(session: AsyncSession, operator_id: uuid.UUID) -> Operator | None:
    return await session.get(Operator, operator_id)


# -- operators' sessions ---------------------------------------------------------------------------------------


async def add_session(session: AsyncSession, row: OperatorSession) -> OperatorSession:
    session.add(row)
    await session.flush()
    return row


async def live_session(
    session: AsyncSession, id_hash: str, *, now: datetime
) -> tuple[OperatorSession, Operator] | None:
    """The unrevoked, unexpired session with this hash and its operator, unless the operator was removed."""
    row = (
        await session.execute(
            select(OperatorSession, Operator)
            .join(Operator, Operator.id == OperatorSession.operator_id)
            .where(
                OperatorSession.id_hash == id_hash,
                OperatorSession.revoked_at.is_(None),
                OperatorSession.expires_at > now,
                Operator.removed_at.is_(None),
            )
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def revoke_session(session: AsyncSession, id_hash: str, *, at: datetime) -> int:
    result = await session.execute(
        update(OperatorSession)
        .where(OperatorSession.id_hash == id_hash, OperatorSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def revoke_sessions_of(session: AsyncSession, operator_id: uuid.UUID, *, at: datetime) -> int:
    result = await session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator_id, OperatorSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)
