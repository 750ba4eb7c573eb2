"""Download links: opening a stored package by its link, recording a new one, revoking and purging them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.audit.repository import CUSTOMER, SYSTEM
from app.core import clock, tokens
from app.core.context import ServiceContext
from app.core.errors import Gone, NotFound, ServiceUnavailable
from app.downloads import repository
from app.downloads.jobs import enqueue_purge
from app.models import Download, PrivacyRequest
from app.packages import PackageError, StoreUnavailable
from app.packages.streaming import prefetched

log = logging.getLogger("app.downloads")

GoneReason = Literal["expired", "erased", "unavailable"]


class UnknownLink(NotFound):
    """No download has this link (404). ``locale`` is None: the link names no request."""

    locale: str | None = None

    def __init__(self) -> None:
        super().__init__("This download link is not valid.")


class DeadLink(Gone):
    """The download exists but its link no longer works (410): ``reason`` says why, ``locale`` is the language
    of the request it was made for, so a browser's page can say so in the customer's language."""

    def __init__(self, detail: str, *, reason: GoneReason, locale: str) -> None:
        super().__init__(detail)
        self.reason: GoneReason = reason
        self.locale: str | None = locale


async def open_download(
    session: AsyncSession, ctx: ServiceContext, *, token: str
) -> tuple[AsyncIterator[bytes], str]:
    """The decrypted package behind a download token: 404 unknown (:class:`UnknownLink`), 410 expired, purged
    or unreadable (:class:`DeadLink`), 503 while the package store does not answer."""
    if not tokens.looks_like_token(token):
        raise UnknownLink()
    token_hash = tokens.hash_token(token, ctx.secret_key)
    found = await repository.find_by_token_hash_with_locale(session, token_hash)
    if found is None:
        raise UnknownLink()
    download, locale = found
    now = clock.now()
    if download.purged_at is not None and download.purged_at < download.expires_at:
        # Revoked before it expired: the customer's data was erased meanwhile (section 7).
        raise DeadLink(
            "This download link no longer works: the data was erased.", reason="erased", locale=locale
        )
    if download.purged_at is not None or now >= download.expires_at:
        raise DeadLink("This download link has expired.", reason="expired", locale=locale)
    # The first frame is read and authenticated before the 200 goes out: a package lost from the store or
    # damaged is answered 410, not a 500 or a response that breaks off after its headers.
    try:
        chunks = await prefetched(ctx.packages.open(download.path))
    except (OSError, PackageError) as exc:
        log.error("download %s: package unreadable: %s", download.id, exc)
        raise DeadLink(
            "This download is no longer available; please ask for your data again.",
            reason="unavailable",
            locale=locale,
        ) from None
    except StoreUnavailable as exc:
        # The package is most likely there: the customer is told to try again, not to ask anew.
        log.error("download %s: package store unavailable: %s", download.id, exc)
        raise ServiceUnavailable(
            "The download is unavailable for a moment; retry shortly.", retry_after=30
        ) from None
    await repository.count_download(session, download.id)
    timeline.record(session, request_id=download.request_id, action="package_downloaded", actor=CUSTOMER)
    return chunks, f"privacy-data-{download.request_id}.zip"


async def revoke_for_erasure(
    session: AsyncSession, ctx: ServiceContext, request: PrivacyRequest, *, at: datetime
) -> int:
    """A deletion was processed: every download link of that customer (or, without one, of that address)
    answers 410 from this transaction's commit on, and a ``purge_package`` job per package, written in the same
    transaction, removes it from the store (retried with backoff while the store fails). The number of links
    revoked."""
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
        await enqueue_purge(session, location=download.path, request_id=download.request_id)
    return len(revoked)


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
