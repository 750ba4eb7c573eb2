"""The customer's download link, and the operator's direct export."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from app.auth.dependencies import OperatorKey
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.ratelimit import DownloadLimit
from app.downloads import service

router = APIRouter(prefix="/v1", tags=["data"])

_ZIP: dict[str, Any] = {"content": {"application/zip": {}}}


@router.get(
    "/downloads/{token}",
    response_class=StreamingResponse,
    responses={
        200: _ZIP | {"description": "The data package"},
        404: {"description": "Unknown link"},
        410: {"description": "Expired link"},
    },
)
async def download(
    token: Annotated[str, Path()], session: SessionDep, ctx: ContextDep, _limit: DownloadLimit
) -> StreamingResponse:
    """The customer's data package as a zip; each download is a timeline event."""
    chunks, filename = await service.open_download(session, ctx, token=token)
    return _attachment(chunks, filename, "application/zip")


@router.get(
    "/privacy-requests/{request_id}/data",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/json": {}, "application/zip": {}},
            "description": "The customer's data",
        }
    },
)
async def export_data(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    format: Annotated[Literal["json", "zip"], Query()] = "json",
) -> StreamingResponse:
    """The customer's data collected now from every source, as an attachment; logged in the timeline."""
    chunks, filename = await service.export(
        session, ctx, request_id=request_id, format=format, actor=principal.name
    )
    media_type = "application/zip" if format == "zip" else "application/json"
    return _attachment(chunks, filename, media_type)


def _attachment(chunks: AsyncIterator[bytes], filename: str, media_type: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )
