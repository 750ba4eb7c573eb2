"""The customer's download link, and the operator's direct export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.ratelimit import DownloadLimit
from app.core.responses import attachment
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
    return attachment(chunks, filename, "application/zip")
