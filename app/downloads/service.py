"""Download links: opening a stored package by its link, recording a new one, revoking and purging them."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import CUSTOMER, SYSTEM
from app.core import clock, tokens
from app.core.context import ServiceContext
from app.core.db import ON_COMMIT
from app.core.errors import Gone, NotFound
from app.downloads import repository
from app.models import Download, PrivacyRequest
from app.packages import PackageError, read_encrypted_package
from app.packages.streaming import prefetched

log = logging.getLogger("app.downloads")


async def open_download(
    session: AsyncSession, ctx: ServiceContext, *, token: str
) -> tuple[AsyncIterator[bytes], str]:
    """The decrypted package behind a download token: 404 unknown, 410 expired, purged or unreadable."""
    if not tokens.looks_like_token(token):
        raise NotFound("This download link is not valid.")
    token_hash = tokens.hash_token(token, ctx.secret_key)
    download = await repository.find_by_token_hash(session, token_hash)
    if download is None:
        raise NotFound("This download link is not valid.")
    if download.purged_at is not None or clock.now() >= download.expires_at:
        raise Gone("This download link has expired.")
    # The first frame is read and authenticated before the 200 goes out: a package lost from disk or
    # damaged is answered 410, not a 500 or a response that breaks off after its headers.
    try:
        chunks = await prefetched(read_encrypted_package(Path(download.path), secret_key=ctx.secret_key))
    except (OSError, PackageError) as exc:
        log.error("download %s: package unreadable: %s", download.id, exc)
        raise Gone("This download is no longer available; please ask for your data again.") from None
    await repository.count_download(session, download.id)
    timeline.record(session, request_id=download.request_id, action="package_downloaded", actor=CUSTOMER)
    return chunks, f"privacy-data-{download.request_id}.zip"


async def revoke_for_erasure(session: AsyncSession, request: PrivacyRequest, *, at: datetime) -> int:
    """A deletion was processed: every download link of that customer (or, without one, of that address)
    answers 410 from this transaction's commit on, and their packages are removed from disk once it has
    committed. The number of links revoked."""
    emails = {address.lower() for address in (request.email, request.customer_email) if address}
    revoked = await repository.revoke_for_person(
        session, customer_id=request.customer_id, emails=emails, at=at
    )
    for download in revoked:
        timeline.record(
            session,
            request_id=download.request_id,
            action="package_purged",
            actor=SYSTEM,
            detail="the customer's data was erased",
        )
    session.info.setdefault(ON_COMMIT, []).extend(
        functools.partial(_remove_package, Path(download.path)) for download in revoked
    )
    return len(revoked)


def _remove_package(path: Path) -> None:
    """Blocking, after commit: a failure is logged, since the link already answers 410 whatever happens."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.error("revoked package %s could not be removed: %s", path, exc)


async def record(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, path: str, size: int, now: datetime
) -> tuple[str, datetime]:
    """Store a built package behind a new link; the link's token (only ever in the email) and its expiry."""
    token, token_hash = tokens.new_token(ctx.secret_key)
    expires_at = now + ctx.settings.download_ttl
    await repository.add(
        session,
        Download(
            id=uuid.uuid4(),
            request_id=request_id,
            token_hash=token_hash,
            path=path,
            size=size,
            created_at=now,
            expires_at=expires_at,
            download_count=0,
        ),
    )
    return token, expires_at
