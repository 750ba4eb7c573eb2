"""All SQL about download links."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, select, tuple_, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Download, PrivacyRequest


async def revoke_for_person(
    session: AsyncSession, *, customer_id: str | None, emails: Collection[str], at: datetime
) -> list[Download]:
    """Mark purged at ``at`` every not-yet-purged download of this person's requests (those with this customer
    id, and those with one of these emails and no customer); the rows revoked, whose files are still on disk."""
    # One SELECT per way of owning a request, so each uses its own index (customer_id, email).
    owners: list[Select[uuid.UUID]] = []
    if customer_id is not None:
        owners.append(select(PrivacyRequest.id).where(PrivacyRequest.customer_id == customer_id))
    if emails:
        owners.append(
            select(PrivacyRequest.id).where(
                PrivacyRequest.email.in_(sorted(emails)), PrivacyRequest.customer_id.is_(None)
            )
        )
    if not owners:
        return []
    requests = union_all(*owners) if len(owners) > 1 else owners[0]
    result = await session.scalars(
        update(Download)
        .where(Download.request_id.in_(requests), Download.purged_at.is_(None))
        .values(purged_at=at)
        .returning(Download)
        .execution_options(synchronize_session=False)
    )
    return list(result.all())


async def add(session: AsyncSession, download: Download) -> Download:
    """Add ``download`` to the caller's unit of work (written with its other rows)."""
    session.add(download)
    return download


async def find_by_token_hash_with_locale(
    session: AsyncSession, token_hash: str
) -> tuple[Download, str] | None:
    """The download with this link and the language of the request it was made for."""
    query = (
        select(Download, PrivacyRequest.locale)
        .join(PrivacyRequest, PrivacyRequest.id == Download.request_id)
        .where(Download.token_hash == token_hash)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def count_download(session: AsyncSession, download_id: uuid.UUID) -> None:
    await session.execute(
        update(Download).where(Download.id == download_id).values(download_count=Download.download_count + 1)
    )


async def expired_unpurged(
    session: AsyncSession, *, now: datetime, limit: int, after: tuple[datetime, uuid.UUID] | None = None
) -> list[Download]:
    """Expired, unpurged downloads, oldest expiry first; ``after`` (an expiry and id) pages on past the last
    batch, so packages that keep failing do not hide those behind them."""
    query = select(Download).where(Download.expires_at <= now, Download.purged_at.is_(None))
    if after is not None:
        query = query.where(tuple_(Download.expires_at, Download.id) > tuple_(*after))
    query = query.order_by(Download.expires_at, Download.id).limit(limit)
    return list((await session.scalars(query)).all())


async def mark_purged(session: AsyncSession, download_id: uuid.UUID, *, at: datetime) -> None:
    await session.execute(update(Download).where(Download.id == download_id).values(purged_at=at))
