"""The confirmation link of a deletion request: a page to look at (GET), a button that confirms (POST).

GET changes nothing, because mail scanners open links; only the customer's click (POST) confirms.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.core.context import ServiceContext
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import AppError, ValidationFailed
from app.core.ratelimit import VerifyLimit
from app.pages import SECURITY_HEADERS, preferred_locale, render_page
from app.requests import actions
from app.verification import service

router = APIRouter(prefix="/v1/verify", tags=["customers' links"])

_PAGE_FOR_STATUS = {404: "not_found", 410: "expired"}
_TOKEN_FIELD = {
    "type": "object",
    # Tokens are 43 characters; 500 keeps any token (escaped in JSON) within the body cap below.
    "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 500}},
    "required": ["token"],
    "additionalProperties": False,
}
CONFIRM_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": _TOKEN_FIELD,
            "examples": {
                "token": {
                    "summary": "The token from the confirmation link",
                    "value": {"token": "mT3x9Qk2V8nYwZ1aB4cD6eF7gH0iJ5kL"},
                }
            },
        },
        "application/x-www-form-urlencoded": {"schema": _TOKEN_FIELD},
    },
}


def _page(
    ctx: ServiceContext, name: str, locale: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    settings = ctx.settings
    html = render_page(name, locale, context, brand=settings.brand, timezone=settings.timezone)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


async def _error_page(
    request: Request, session: SessionDep, ctx: ServiceContext, token: str, error: AppError
) -> HTMLResponse:
    """The page for an unknown, used or expired link: in the language of the request the link belongs to, and
    in the browser's language only when the link names no request."""
    owner = await service.link_owner(session, ctx, token)
    locale = owner.locale if owner is not None else preferred_locale(request.headers.get("accept-language"))
    name = _PAGE_FOR_STATUS.get(error.status_code, "error")
    context: dict[str, Any] = {}
    if name == "not_found" and owner is not None and owner.verified_at is not None:
        name = "already_confirmed"
        # What the page may truthfully say next depends on where the erasure is now.
        context["progress"] = {"in_progress": "working", "processed": "done"}.get(owner.status, "written")
    return _page(ctx, name, locale, context, error.status_code)


@router.get(
    "",
    response_class=HTMLResponse,
    responses={
        404: {"description": "A page: the link is not valid (unknown, mangled or already used)"},
        410: {"description": "A page: the link has expired"},
    },
    summary="The confirmation page of a deletion request",
    description="The link in the confirmation email opens this HTML page, in the request's language: what will "
    "be erased, and a Confirm button that posts the token to `POST /v1/verify`. Opening it changes nothing "
    "(mail scanners open links too).\n\n**Roles:** none (public; the token is the credential).\n\n"
    "**Errors** (as HTML pages, in the request's language, or the browser's when the link names no request): "
    "404 when the link is not valid or was already used (then the page says the deletion is confirmed); 410 "
    "when it has expired; 429 `rate_limited` (JSON) after too many tries from one address.",
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
        return await _error_page(request, session, ctx, token, error)
    return _page(
        ctx,
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
        200: {
            "description": "Confirmed: an HTML page for a form post, JSON otherwise",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "status": {"type": "string", "enum": ["in_progress"]},
                        },
                        "required": ["id", "status"],
                    },
                    "example": {"id": "0b1c5f4e-8d2a-4c7b-9f3e-2a6d1e8c4b70", "status": "in_progress"},
                },
                "text/html": {"schema": {"type": "string"}},
            },
        },
        404: {"description": "The token is not valid (unknown or already used)"},
        410: {"description": "The token has expired"},
    },
    summary="Confirm a deletion request",
    description="Confirms the deletion request the token belongs to: `unverified` -> `in_progress`, and the "
    "erasure starts. The confirmation page's button posts the form field `token` and gets an HTML page back; an "
    'app may post JSON `{"token": ...}` and gets JSON. The token works once.\n\n'
    "**Roles:** none (public; the token is the credential).\n\n**Errors** (an HTML page for a form post, the "
    "JSON error body otherwise): 404 `not_found` when the token is not valid or was used; 410 `gone` when it has "
    "expired; 422 `validation_error` when no token is sent or the body is not JSON or a form; 429 "
    "`rate_limited` after too many tries from one address.",
    openapi_extra={"requestBody": CONFIRM_BODY},
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
        return await _error_page(request, session, ctx, token, error)
    if is_form:
        return _page(ctx, "verified", privacy_request.locale, {"email": privacy_request.email})
    return JSONResponse({"id": str(privacy_request.id), "status": privacy_request.status})


async def _read_token(request: Request, *, is_form: bool) -> str:
    invalid = ValidationFailed("A token is required.", fields=[{"field": "token", "detail": "required"}])
    if is_form:
        try:
            form = await request.form(max_files=0, max_fields=10)
        except Exception:
            raise invalid from None
        tokens = form.getlist("token")
        token = tokens[0] if len(tokens) == 1 else None
        extra = set(form.keys()) - {"token"}
    else:
        body = await request.body()
        if len(body) > 10_000:
            raise invalid
        try:
            data = json.loads(body or b"null")
        except json.JSONDecodeError as error:
            where = f"{error.msg} at line {error.lineno}, column {error.colno}"
            raise ValidationFailed(
                f'The body is not valid JSON: {where}. Send {{"token": "..."}} with '
                "'Content-Type: application/json', or the form field token.",
                fields=[{"field": "body", "detail": f"not valid JSON: {where}"}],
            ) from None
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: a small body can still nest deeper than the parser goes.
            raise ValidationFailed(
                "The body is not JSON.", fields=[{"field": "body", "detail": "invalid JSON"}]
            ) from None
        token = data.get("token") if isinstance(data, dict) else None
        extra = set(data) - {"token"} if isinstance(data, dict) else set()
    if extra:
        # The page posts the token alone: anything else is a client's mistake worth naming.
        raise ValidationFailed(
            "Only the field token is expected.",
            fields=[{"field": name, "detail": "unexpected field"} for name in sorted(extra)[:10]],
        )
    if not isinstance(token, str) or not token:
        raise invalid
    return token
