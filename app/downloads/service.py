"""Opening a stored package by its link, and exporting a customer's data on demand."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import timeline
from app.audit.timeline import CUSTOMER, SYSTEM
from app.core import clock, tokens
from app.core.context import ServiceContext
from app.core.db import ON_COMMIT
from app.core.errors import AppError, Gone, NotFound
from app.downloads import repository
from app.models import Download, PrivacyRequest
from app.requests.access_package import identity_of, package_meta
from app.requests.actions import load
from app.sources import PackageError, SourceError, read_encrypted_package, stream_json, stream_zip

log = logging.getLogger("app.downloads")


class SourceUnavailable(AppError):
    """A data source failed while the operator's export was being collected; nothing was sent."""

    status_code = 503
    code = "unavailable"


async def open_download(
    session: AsyncSession, ctx: ServiceContext, *, token: str
) -> tuple[AsyncIterator[bytes], str]:
    """The decrypted package behind a download token: 404 unknown, 410 expired, purged or unreadable."""
    if not tokens.looks_like_token(token):
        raise NotFound("This download link is not valid.")
    token_hash = tokens.hash_token(token, ctx.secret_key)
    download = (await session.scalars(select(Download).where(Download.token_hash == token_hash))).first()
    if download is None:
        raise NotFound("This download link is not valid.")
    if download.purged_at is not None or clock.now() >= download.expires_at:
        raise Gone("This download link has expired.")
    # The first frame is read and authenticated before the 200 goes out: a package lost from disk or
    # damaged is answered 410, not a 500 or a response that breaks off after its headers.
    try:
        chunks = await _prefetched(read_encrypted_package(Path(download.path), secret_key=ctx.secret_key))
    except (OSError, PackageError) as exc:
        log.error("download %s: package unreadable: %s", download.id, exc)
        raise Gone("This download is no longer available; please ask for your data again.") from None
    await session.execute(
        update(Download).where(Download.id == download.id).values(download_count=Download.download_count + 1)
    )
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


async def export(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, format: str, actor: str
) -> tuple[AsyncIterator[bytes], str]:
    """The customer's data collected now, streamed; the export is recorded in the timeline.

    A source failing before the first bytes are ready is a 503 naming the source (the zip collects every
    source before its first byte, so for ``zip`` that is every source failure).
    """
    request = await load(session, request_id)
    meta, customer = package_meta(request)
    identity = identity_of(request)
    if format == "zip":
        stream = stream_zip(ctx.sources, identity, request=meta, customer=customer)
        filename = f"privacy-data-{request.id}.zip"
    else:
        stream = stream_json(ctx.sources, identity, request=meta, customer=customer)
        filename = f"privacy-data-{request.id}.json"
    try:
        chunks = await _prefetched(stream)
    except SourceError as exc:
        raise SourceUnavailable(
            f"The customer's data could not be collected: {exc}.",
            headers={"Retry-After": str(SourceError.retry_after)},
        ) from None
    timeline.record(
        session, request_id=request.id, action="data_exported", actor=actor, detail=f"format {format}"
    )
    return chunks, filename


async def _prefetched(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Take the first chunk now (so its errors are raised here), then hand out the rest as it comes."""
    try:
        first = await anext(chunks, None)
    except BaseException:
        await _close(chunks)
        raise

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await _close(chunks)

    return rest()


async def _close(chunks: AsyncIterator[bytes]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
