"""HTTP answers shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse


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
