"""The customer's download link, and the operator's direct export."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.ratelimit import DownloadLimit
from app.core.responses import attachment
from app.downloads import service
from app.pages import SECURITY_HEADERS, preferred_locale, render_page, wants_html

router = APIRouter(prefix="/v1", tags=["customers' links"])

_ZIP: dict[str, Any] = {"content": {"application/zip": {}}}


@router.get(
    "/downloads/{token}",
    response_class=StreamingResponse,
    response_model=None,
    responses={
        200: _ZIP | {"description": "The data package"},
        404: {"description": "The link is not valid (a page for a browser, the JSON error body otherwise)"},
        410: {
            "description": "The link has expired or the data was erased (a page for a browser, JSON otherwise)"
        },
        503: {
            "description": "`unavailable`: the database or the package store cannot be reached; retry after "
            "`Retry-After` seconds"
        },
    },
    summary="Download a data package",
    description="The link in the data-ready email: the customer's data package as a zip (`data.json`, CSV "
    "files and `report.html`). Each download is logged in the request's timeline.\n\n"
    "**Roles:** none (public; the token in the link is the credential).\n\n**Errors:** 404 `not_found` when "
    "the link is not valid; 410 `gone` when it has expired or the customer's data was since erased; 429 "
    "`rate_limited` after too many tries from one address. A browser (`Accept: text/html`) gets each as a page "
    "in the customer's language. 503 `unavailable` while the package store (or the database) cannot be "
    "reached; retry after `Retry-After` seconds.",
)
async def download(
    request: Request,
    token: Annotated[str, Path()],
    session: SessionDep,
    ctx: ContextDep,
    _limit: DownloadLimit,
) -> StreamingResponse | HTMLResponse:
    """The customer's data package as a zip; each download is a timeline event. A link that does not work
    answers a browser (``Accept: text/html``) with a page in the customer's language, and an API client with
    the JSON error."""
    try:
        chunks, filename = await service.open_download(session, ctx, token=token)
    except (service.UnknownLink, service.DeadLink) as error:
        if not wants_html(request.headers.get("accept")):
            raise
        locale = error.locale or preferred_locale(request.headers.get("accept-language"))
        if isinstance(error, service.DeadLink):
            name, context = "download_gone", {"reason": error.reason}
        else:
            name, context = "download_not_found", {}
        html = render_page(name, locale, context, brand=ctx.settings.brand, timezone=ctx.settings.timezone)
        return HTMLResponse(html, status_code=error.status_code, headers=SECURITY_HEADERS)
    return attachment(chunks, filename, "application/zip")
