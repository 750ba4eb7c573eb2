"""HTTP answers shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import JSONResponse, StreamingResponse
from pydantic_core import to_json


class FastJSONResponse(JSONResponse):
    """JSON written by pydantic_core: ids and times go in as objects (times as RFC 3339, UTC as ``Z``), about
    three times faster than the standard library's encoder with the conversions done first (the list's pages)."""

    def render(self, content: Any) -> bytes:
        return to_json(content)


def attachment(chunks: AsyncIterator[bytes], filename: str, media_type: str) -> StreamingResponse:
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
