"""The console's pages at ``/cockpit``: the list, a request, a customer, intake, the dashboard and (for admins)
the webhooks with their deliveries.

Pages read through the same services as the API and render HTML; every change is made by the page's script
calling the public JSON API. A browser without a live session is sent to ``/cockpit/sign-in``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.auth.keys import Role
from app.auth.sessions import OperatorSession, current_operator
from app.cockpit import labels
from app.cockpit.filters import PAGE_SIZE, SORTS, STATUSES, TYPES, read_list_view
from app.cockpit.render import LANGUAGE_COOKIE, gettext, language_of, render
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import AppError, Forbidden, NotFound, ValidationFailed
from app.core.i18n import LOCALES
from app.customers import service as customers
from app.models import OPEN_STATUSES
from app.requests import service as requests
from app.sources.config import in_language
from app.webhooks import service as webhooks

router = APIRouter(prefix="/cockpit", include_in_schema=False)

_STATIC = Path(__file__).resolve().parent.parent / "static" / "cockpit"
# name -> media type: a fixed list, so no path from the URL reaches the file system.
ASSETS: dict[str, str] = {
    "cockpit.js": "text/javascript; charset=utf-8",
    "cockpit.css": "text/css; charset=utf-8",
}
SIGN_IN = "/cockpit/sign-in"
# Deliveries shown per page on a webhook's screen (the API's default page).
DELIVERIES_PAGE_SIZE = 50
# The API's longest cursor (GET /v1/webhooks/{id}/deliveries): a longer one is damaged.
_CURSOR_LENGTH = 500


def _sign_in(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{SIGN_IN}?next={quote(here, safe='')}", status_code=303)


def _common(request: Request, operator: OperatorSession, nav: str) -> dict[str, Any]:
    settings = request.app.state.ctx.settings
    return {
        "locale": language_of(request),
        "timezone": settings.timezone,
        "operator": operator,
        "csrf_token": operator.csrf_token,
        "nav": nav,
    }


def _error_page(request: Request, common: dict[str, Any], error: AppError) -> Response:
    return render(request, "error", status_code=error.status_code, code=error.status_code, **common)


@router.get("")
async def request_list(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    common = _common(request, operator, "list")
    view = read_list_view(request.query_params, timezone=ctx.settings.timezone)
    try:
        page = await requests.list_requests(
            session, ctx, filters=view.filters, sort=view.sort, limit=PAGE_SIZE, cursor=view.cursor
        )
    except ValidationFailed:
        # A cursor from another sort or a damaged address: start again at the first page.
        view.problems["cursor"] = "cursor"
        view.cursor, view.trail = None, []
        page = await requests.list_requests(
            session, ctx, filters=view.filters, sort=view.sort, limit=PAGE_SIZE, cursor=None
        )
    _ = gettext(common["locale"])
    return render(
        request,
        "list",
        view=view,
        items=page["items"],
        next_cursor=page["next_cursor"],
        statuses=STATUSES,
        types=TYPES,
        sorts=SORTS,
        sort_labels=labels.sorts(_),
        open_statuses=OPEN_STATUSES,
        **common,
    )


@router.get("/requests/{request_id}")
async def request_page(request_id: str, request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    common = _common(request, operator, "list")
    try:
        detail = await requests.get_detail(session, uuid.UUID(request_id), full=True)
    except ValueError:
        return _error_page(request, common, NotFound("There is no request with this id."))
    except AppError as error:
        return _error_page(request, common, error)
    instructions = {source.name: source.instructions for source in ctx.sources.manual}
    tasks = [
        {**task, "instructions": in_language(instructions.get(task["source"]), common["locale"])}
        for task in detail["tasks"]
    ]
    return render(
        request,
        "request",
        item=detail,
        tasks=tasks,
        open_statuses=OPEN_STATUSES,
        actions=_actions(detail),
        **common,
    )


def _actions(item: dict[str, Any]) -> set[str]:
    """What the contract lets an operator do to this request now (the API still decides)."""
    status, kind, handling = item["status"], item["type"], item["handling"]
    possible: set[str] = {"download"}
    if (kind == "access" and status == "pending") or status == "failed":
        possible.add("accept")
        if kind == "access":
            possible.add("accept_manual")
    if kind == "access" and status == "in_progress" and handling == "manual":
        possible.add("fulfil")
    if status in ("unverified", "pending", "failed") or (status == "in_progress" and handling == "manual"):
        possible.add("dismiss")
    if (
        status in OPEN_STATUSES
        and item["extended_at"] is None
        and not item["overdue"]
        and item["regulation"] != "lgpd"
    ):
        possible.add("extend")
    if status == "unverified":
        possible.add("resend")
    return possible


@router.get("/customers/{customer_id}")
async def customer_page(customer_id: str, request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    common = _common(request, operator, "list")
    if not 1 <= len(customer_id) <= 200:
        return _error_page(request, common, NotFound("No customer has this id."))
    try:
        customer = await customers.customer_detail(session, ctx, customer_id)
    except AppError as error:
        return _error_page(request, common, error)
    return render(request, "customer", customer=customer, open_statuses=OPEN_STATUSES, **common)


@router.get("/intake")
async def intake_page(request: Request, session: SessionDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    customer_id = request.query_params.get("customer_id", "")[:200]
    return render(
        request,
        "intake",
        types=TYPES,
        request_customer_id=customer_id,
        **_common(request, operator, "intake"),
    )


@router.get("/dashboard")
async def dashboard_page(request: Request, session: SessionDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    stats = await requests.stats(session)
    return render(
        request, "dashboard", stats=stats, statuses=STATUSES, **_common(request, operator, "dashboard")
    )


@router.get("/webhooks")
async def webhooks_page(request: Request, session: SessionDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    common = _common(request, operator, "webhooks")
    if operator.role != Role.ADMIN:
        return _error_page(request, common, Forbidden("The webhooks are for admins."))
    return render(request, "webhooks", hooks=await webhooks.list_active(session), **common)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(webhook_id: str, request: Request, session: SessionDep) -> Response:
    operator = await current_operator(request, session)
    if operator is None:
        return _sign_in(request)
    common = _common(request, operator, "webhooks")
    if operator.role != Role.ADMIN:
        return _error_page(request, common, Forbidden("The webhooks are for admins."))
    try:
        hook = await webhooks.get_or_404(session, uuid.UUID(webhook_id))
    except ValueError:
        return _error_page(request, common, NotFound("No webhook has this id."))
    except AppError as error:
        return _error_page(request, common, error)
    cursor = request.query_params.get("cursor") or None
    problems: dict[str, str] = {}
    try:
        if cursor is not None and len(cursor) > _CURSOR_LENGTH:
            raise ValidationFailed("The cursor is too long.")
        page = await webhooks.deliveries(session, hook.id, limit=DELIVERIES_PAGE_SIZE, cursor=cursor)
    except ValidationFailed:
        # A damaged or made-up page address: start again at the first page, and say so.
        problems["cursor"] = "cursor"
        cursor = None
        page = await webhooks.deliveries(session, hook.id, limit=DELIVERIES_PAGE_SIZE, cursor=None)
    _ = gettext(common["locale"])
    return render(
        request,
        "webhook",
        hook=hook,
        deliveries=page["items"],
        next_cursor=page["next_cursor"],
        first_page=cursor is None,
        problems=problems,
        delivery_labels=labels.delivery_statuses(_),
        **common,
    )


@router.get("/language")
async def choose_language(
    lang: Annotated[str, Query(max_length=5)], next: Annotated[str, Query(max_length=2000)] = "/cockpit"
) -> Response:
    """The language switch: remembers the choice in a cookie and goes back to the page (this site's only)."""
    target = next if _is_cockpit_path(next) else "/cockpit"
    response = RedirectResponse(target, status_code=303)
    if lang in LOCALES:
        response.set_cookie(
            LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, path="/cockpit", httponly=True, samesite="lax"
        )
    return response


def _is_cockpit_path(value: str) -> bool:
    parts = urlsplit(value)
    return (
        not parts.scheme
        and not parts.netloc
        and (parts.path == "/cockpit" or parts.path.startswith("/cockpit/"))
        and "\\" not in value
    )


@router.get("/static/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound("There is nothing at this address.")
    return FileResponse(
        _STATIC / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
