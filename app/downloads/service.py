"""Opening a stored package by its link, and exporting a customer's data on demand."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock, tokens
from app.audit import timeline
from app.audit.timeline import CUSTOMER
from app.context import ServiceContext
from app.errors import Gone, NotFound
from app.models import Download
from app.processing.access import identity_of, package_meta
from app.requests.actions import load
from app.sources import read_encrypted_package, stream_json, stream_zip


async def open_download(
    session: AsyncSession, ctx: ServiceContext, *, token: str
) -> tuple[AsyncIterator[bytes], str]:
    """The decrypted package behind a download token: 404 unknown, 410 expired or purged."""
    if not tokens.looks_like_token(token):
        raise NotFound("This download link is not valid.")
    token_hash = tokens.hash_token(token, ctx.secret_key)
    download = (await session.scalars(select(Download).where(Download.token_hash == token_hash))).first()
    if download is None:
        raise NotFound("This download link is not valid.")
    if download.purged_at is not None or clock.now() >= download.expires_at:
        raise Gone("This download link has expired.")
    await session.execute(
        update(Download).where(Download.id == download.id).values(download_count=Download.download_count + 1)
    )
    timeline.record(session, request_id=download.request_id, action="package_downloaded", actor=CUSTOMER)
    return read_encrypted_package_path(download.path, ctx), f"privacy-data-{download.request_id}.zip"


def read_encrypted_package_path(path: str, ctx: ServiceContext) -> AsyncIterator[bytes]:
    from pathlib import Path

    return read_encrypted_package(Path(path), secret_key=ctx.secret_key)


async def export(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, format: str, actor: str
) -> tuple[AsyncIterator[bytes], str]:
    """The customer's data collected now, streamed; the export is recorded in the timeline."""
    request = await load(session, request_id)
    meta, customer = package_meta(request)
    timeline.record(
        session, request_id=request.id, action="data_exported", actor=actor, detail=f"format {format}"
    )
    identity = identity_of(request)
    if format == "zip":
        return stream_zip(
            ctx.sources, identity, request=meta, customer=customer
        ), f"privacy-data-{request.id}.zip"
    return stream_json(
        ctx.sources, identity, request=meta, customer=customer
    ), f"privacy-data-{request.id}.json"
