"""The confirmation link of a deletion request: a page to look at (GET), a button that confirms (POST).

GET changes nothing, because mail scanners open links; only the customer's click (POST) confirms.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import AppError, ValidationFailed
from app.core.ratelimit import VerifyLimit
from app.pages import SECURITY_HEADERS, render_page
from app.requests import actions

router = APIRouter(prefix="/v1/verify", tags=["customers' links"])

_PAGE_FOR_STATUS = {404: "not_found", 410: "expired"}


def _page(name: str, locale: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(render_page(name, locale, context), status_code=status_code, headers=SECURITY_HEADERS)


def _error_page(request: Request, error: AppError) -> HTMLResponse:
    """The page for an unknown, used or expired link, in the browser's language (the request's is unknown)."""
    return _page(_PAGE_FOR_STATUS.get(error.status_code, "error"), _locale(request), {}, error.status_code)


def _locale(request: Request) -> str:
    accept = request.headers.get("accept-language", "")
    return "de" if accept.lower().startswith("de") else "en"


@router.get(
    "",
    response_class=HTMLResponse,
    responses={404: {"description": "Unknown or used link"}, 410: {"description": "Expired link"}},
)
async def verify_page(
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    _limit: VerifyLimit,
    # Any length: a mangled link gets the "not valid" page, not a JSON error (tokens are checked by shape first).
    token: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """What will be erased, and a Confirm button. Opening it changes nothing."""
    try:
        privacy_request = await actions.find_by_token(session, ctx, token)
    except AppError as error:
        return _error_page(request, error)
    return _page(
        "verify",
        privacy_request.locale,
        {
            "token": token,
            "email": privacy_request.email,
            "expires_at": privacy_request.verification_expires_at,
            "entities": ctx.sources.describe(),
            "verify_action": "/v1/verify",
        },
    )


@router.post(
    "",
    responses={
        200: {"description": "Confirmed: an HTML page for a form post, JSON otherwise"},
        404: {"description": "Unknown or used token"},
        410: {"description": "Expired token"},
    },
)
async def confirm(request: Request, session: SessionDep, ctx: ContextDep, _limit: VerifyLimit) -> Response:
    """Confirm the deletion (form field or JSON ``token``); the token works once."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_form = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    token = await _read_token(request, is_form=is_form)
    try:
        privacy_request = await actions.confirm(session, ctx, token=token)
    except AppError as error:
        if not is_form:
            raise
        return _error_page(request, error)
    if is_form:
        return _page("verified", privacy_request.locale, {"email": privacy_request.email})
    return JSONResponse({"id": str(privacy_request.id), "status": privacy_request.status})


async def _read_token(request: Request, *, is_form: bool) -> str:
    invalid = ValidationFailed("A token is required.", fields=[{"field": "token", "detail": "required"}])
    if is_form:
        try:
            form = await request.form(max_files=0, max_fields=10)
        except Exception:
            raise invalid from None
        token = form.get("token")
    else:
        body = await request.body()
        if len(body) > 10_000:
            raise invalid
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: a small body can still nest deeper than the parser goes.
            raise ValidationFailed(
                "The body is not JSON.", fields=[{"field": "body", "detail": "invalid JSON"}]
            ) from None
        token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise invalid
    return token
