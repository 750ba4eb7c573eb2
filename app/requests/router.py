"""Privacy-request endpoints: authorise, parse, call one service function, answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.dependencies import AppKey, OperatorKey, SignedInCustomer
from app.auth.keys import Role
from app.core import clock
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import ValidationFailed
from app.core.ratelimit import SubmitLimit
from app.core.responses import attachment
from app.requests import actions, export, service
from app.requests.repository import ListFilters
from app.requests.schemas import (
    AcceptBody,
    AppPrivacyRequestOut,
    ExtendBody,
    FulfilBody,
    PrivacyRequestDetail,
    PrivacyRequestOut,
    PrivacyRequestPage,
    Prose,
    RequestStatus,
    RequestType,
    SortKey,
    Stats,
    SubmitRequest,
    normalise_email,
)
from app.requests.views import operator_view

router = APIRouter(prefix="/v1", tags=["privacy requests"])


@router.post(
    "/privacy-requests",
    status_code=201,
    response_model=PrivacyRequestOut | AppPrivacyRequestOut,
    responses={
        200: {
            "model": PrivacyRequestOut | AppPrivacyRequestOut,
            "description": "An open request of this type already exists, or a repeat with the same Idempotency-Key",
        }
    },
    description="Record an access or deletion request. Who it concerns (contract section 7): with a valid "
    "`X-Customer-Token`, the signed-in customer; with an app key and no token, the `email` only (`customer_id` "
    "is refused); operators may name `customer_id` or `email` and add a `note`. Emails for a matched customer "
    "go to the address on file. The app role gets the minimal view; operators the full resource.",
)
async def submit_request(
    _limit: SubmitLimit,  # first: an unauthenticated flood is limited too
    body: SubmitRequest,
    principal: AppKey,
    session: SessionDep,
    ctx: ContextDep,
    signed_in: SignedInCustomer,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    outcome = await service.submit(
        session,
        ctx,
        principal=principal,
        body=body,
        token_customer_id=signed_in,
        idempotency_key=idempotency_key,
    )
    # The body is already JSON-ready and shaped by the service: skip a second validation pass.
    return JSONResponse(outcome.body, status_code=outcome.status_code)


@router.get("/privacy-requests", response_model=PrivacyRequestPage)
async def list_requests(
    _principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    status: Annotated[list[RequestStatus] | None, Query()] = None,
    type: RequestType | None = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    customer_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    overdue: bool | None = None,
    due_before: datetime | None = None,
    received_after: datetime | None = None,
    received_before: datetime | None = None,
    sort: SortKey = "-received_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    filters = ListFilters(
        statuses=tuple(dict.fromkeys(status or ())),
        type=type,
        email=_email_filter(email),
        customer_id=customer_id,
        overdue=overdue,
        due_before=_aware("due_before", due_before),
        received_after=_aware("received_after", received_after),
        received_before=_aware("received_before", received_before),
    )
    page = await service.list_requests(session, ctx, filters=filters, sort=sort, limit=limit, cursor=cursor)
    return JSONResponse(page)


def _email_filter(email: str | None) -> str | None:
    if email is None:
        return None
    try:
        return normalise_email(email)
    except ValueError:
        raise ValidationFailed(
            "email is not an email address.", fields=[{"field": "email", "detail": "not an email address"}]
        ) from None


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(
            f"{name} needs a time zone, e.g. 2026-01-31T00:00:00Z.",
            fields=[{"field": name, "detail": "time zone missing"}],
        )
    if value is None:
        return None
    try:
        return clock.as_utc(value)
    except OverflowError:
        raise ValidationFailed(
            f"{name} is out of range.", fields=[{"field": name, "detail": "date out of range"}]
        ) from None


@router.get(
    "/privacy-requests/{request_id}",
    response_model=PrivacyRequestDetail | AppPrivacyRequestOut,
    description="Operators get the detail view with the timeline and result. The app role gets the minimal "
    "view only (id, type, status, regulation, locale, received_at, due_at, verified_at, days_left, overdue).",
)
async def get_request(request_id: uuid.UUID, principal: AppKey, session: SessionDep) -> dict[str, Any]:
    return await service.get_detail(session, request_id, full=principal.has(Role.OPERATOR))


@router.post("/privacy-requests/{request_id}/accept", response_model=PrivacyRequestOut)
async def accept_request(
    request_id: uuid.UUID, body: AcceptBody, principal: OperatorKey, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    request = await actions.accept(
        session, ctx, request_id=request_id, handling=body.handling, actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post("/privacy-requests/{request_id}/fulfil", response_model=PrivacyRequestOut)
async def fulfil_request(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    body: FulfilBody | None = None,
) -> dict[str, Any]:
    body = body or FulfilBody()
    request = await actions.fulfil(
        session,
        ctx,
        request_id=request_id,
        send_download_link=body.send_download_link,
        note=body.note,
        actor=principal.name,
    )
    return operator_view(request, now=clock.now())


@router.delete("/privacy-requests/{request_id}", response_model=PrivacyRequestOut)
async def delete_request(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    reason: Annotated[Prose, Query(min_length=1, max_length=2000)],
    notify: bool = False,
) -> dict[str, Any]:
    request = await actions.dismiss(
        session, ctx, request_id=request_id, reason=reason, notify=notify, actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post("/privacy-requests/{request_id}/extend", response_model=PrivacyRequestOut)
async def extend_request(
    request_id: uuid.UUID, body: ExtendBody, principal: OperatorKey, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    request = await actions.extend(
        session, ctx, request_id=request_id, reason=body.reason, actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post("/privacy-requests/{request_id}/resend-verification", response_model=PrivacyRequestOut)
async def resend_verification(
    request_id: uuid.UUID, principal: OperatorKey, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    request = await actions.resend_verification(session, ctx, request_id=request_id, actor=principal.name)
    return operator_view(request, now=clock.now())


@router.get("/stats", response_model=Stats, tags=["cockpit"])
async def get_stats(_principal: OperatorKey, session: SessionDep) -> dict[str, Any]:
    return await service.stats(session)


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
    chunks, filename = await export.export(
        session, ctx, request_id=request_id, format=format, actor=principal.name
    )
    media_type = "application/zip" if format == "zip" else "application/json"
    return attachment(chunks, filename, media_type)
