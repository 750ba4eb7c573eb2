"""The operator's export of a customer's data, collected now from every source (``GET .../data``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository as timeline
from app.core.context import ServiceContext
from app.core.errors import AppError
from app.packages import Reader, stream_json, stream_zip
from app.packages.streaming import prefetched
from app.requests.access_package import identity_of, package_meta
from app.requests.actions import get_or_404
from app.sources import SourceError


class SourceUnavailable(AppError):
    """A data source failed while the operator's export was being collected; nothing was sent."""

    status_code = 503
    code = "unavailable"


async def export(
    session: AsyncSession, ctx: ServiceContext, *, request_id: uuid.UUID, format: str, actor: str
) -> tuple[AsyncIterator[bytes], str]:
    """The customer's data collected now, streamed; the export is recorded in the timeline.

    A source failing before the first bytes are ready is a 503 naming the source (the zip collects every
    source before its first byte, so for ``zip`` that is every source failure).
    """
    request = await get_or_404(session, request_id)
    meta, customer = package_meta(request)
    identity = identity_of(request)
    if format == "zip":
        stream = stream_zip(
            ctx.sources,
            identity,
            request=meta,
            customer=customer,
            reader=Reader.of(ctx.settings, request.locale),
        )
        filename = f"privacy-data-{request.id}.zip"
    else:
        stream = stream_json(ctx.sources, identity, request=meta, customer=customer)
        filename = f"privacy-data-{request.id}.json"
    try:
        chunks = await prefetched(stream)
    except SourceError as exc:
        raise SourceUnavailable(
            f"The customer's data could not be collected: {exc}.",
            headers={"Retry-After": str(SourceError.retry_after)},
        ) from None
    timeline.record(
        session, request_id=request.id, action="data_exported", actor=actor, detail=f"format {format}"
    )
    return chunks, filename
