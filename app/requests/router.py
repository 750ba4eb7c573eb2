"""Privacy-request endpoints: authorise, parse, call one service function, answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query
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
from app.requests import openapi as docs
from app.requests.repository import ListFilters
from app.requests.schemas import (
    AcceptBody,
    AppPrivacyRequestOut,
    EmailText,
    ExtendBody,
    FulfilBody,
    PrivacyRequestDetail,
    PrivacyRequestOut,
    PrivacyRequestPage,
    Prose,
    RequestStatus,
    RequestType,
    Rfc3339,
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
    response_description="The request was recorded",
    summary=docs.SUBMIT["summary"],
    description=docs.SUBMIT["description"],
    responses={
        200: {
            "model": PrivacyRequestOut | AppPrivacyRequestOut,
            "description": "An open request of this type already exists, or a repeat with the same Idempotency-Key",
        },
        **docs.SUBMIT["responses"],
    },
)
async def submit_request(
    _limit: SubmitLimit,  # first: an unauthenticated flood is limited too
    body: Annotated[SubmitRequest, Body(openapi_examples=docs.SUBMIT_EXAMPLES)],
    principal: AppKey,
    session: SessionDep,
    ctx: ContextDep,
    signed_in: SignedInCustomer,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="A unique string per submission (a UUID, say): a repeat with the same key and body "
            "answers as the first time, without recording a second request.",
        ),
    ] = None,
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


@router.get("/privacy-requests", response_model=PrivacyRequestPage, **docs.LIST)
async def list_requests(
    _principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    status: Annotated[
        list[RequestStatus] | None,
        Query(description="Only these statuses (repeat the parameter for several); `deleted` only if named."),
    ] = None,
    type: Annotated[RequestType | None, Query(description="Only access or only deletion requests.")] = None,
    email: Annotated[EmailText | None, Query(description="Only requests concerning this address.")] = None,
    customer_id: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Only this customer's requests.")
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="`true`: only open requests past `due_at`; `false`: only the others.")
    ] = None,
    due_before: Annotated[
        Rfc3339 | None, Query(description="Only requests due before this time (with a time zone).")
    ] = None,
    received_after: Annotated[
        Rfc3339 | None, Query(description="Only requests received at or after this time (with a time zone).")
    ] = None,
    received_before: Annotated[
        Rfc3339 | None, Query(description="Only requests received before this time (with a time zone).")
    ] = None,
    sort: Annotated[SortKey, Query(description="The order; `-` for newest (or latest due) first.")] = (
        "-received_at"
    ),
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many requests per page.")] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500,
            pattern=r"^[A-Za-z0-9_-]*$",
            description="The `next_cursor` of the previous page, as it was returned (with the same `sort`); "
            "any other value is refused with 422.",
        ),
    ] = None,
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
    **docs.GET,
)
async def get_request(request_id: uuid.UUID, principal: AppKey, session: SessionDep) -> dict[str, Any]:
    return await service.get_detail(session, request_id, full=principal.has(Role.OPERATOR))


@router.post("/privacy-requests/{request_id}/accept", response_model=PrivacyRequestOut, **docs.ACCEPT)
async def accept_request(
    request_id: uuid.UUID,
    body: Annotated[AcceptBody, Body(openapi_examples=docs.ACCEPT_EXAMPLES)],
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    request = await actions.accept(
        session, ctx, request_id=request_id, handling=body.handling, actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post("/privacy-requests/{request_id}/fulfil", response_model=PrivacyRequestOut, **docs.FULFIL)
async def fulfil_request(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    body: Annotated[FulfilBody | None, Body(openapi_examples=docs.FULFIL_EXAMPLES)] = None,
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


@router.delete("/privacy-requests/{request_id}", response_model=PrivacyRequestOut, **docs.DISMISS)
async def delete_request(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    reason: Annotated[Prose, Query(min_length=1, max_length=2000)],
    notify: Annotated[
        Literal["true", "false"],
        Query(
            description="`true`: the customer is told the reason and their rights; `false`: they are not, and "
            "`reason` says why (e.g. a duplicate)."
        ),
    ],
) -> dict[str, Any]:
    request = await actions.dismiss(
        session, ctx, request_id=request_id, reason=reason, notify=notify == "true", actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post("/privacy-requests/{request_id}/extend", response_model=PrivacyRequestOut, **docs.EXTEND)
async def extend_request(
    request_id: uuid.UUID,
    body: Annotated[ExtendBody, Body(openapi_examples=docs.EXTEND_EXAMPLES)],
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    request = await actions.extend(
        session, ctx, request_id=request_id, reason=body.reason, actor=principal.name
    )
    return operator_view(request, now=clock.now())


@router.post(
    "/privacy-requests/{request_id}/resend-verification", response_model=PrivacyRequestOut, **docs.RESEND
)
async def resend_verification(
    request_id: uuid.UUID, principal: OperatorKey, session: SessionDep, ctx: ContextDep
) -> dict[str, Any]:
    request = await actions.resend_verification(session, ctx, request_id=request_id, actor=principal.name)
    return operator_view(request, now=clock.now())


@router.get("/stats", response_model=Stats, **docs.STATS)
async def get_stats(_principal: OperatorKey, session: SessionDep) -> dict[str, Any]:
    return await service.stats(session)


@router.get(
    "/privacy-requests/{request_id}/data",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/json": {}, "application/zip": {}},
            "description": "The customer's data",
        },
        **docs.EXPORT_RESPONSES,
    },
    summary=docs.EXPORT["summary"],
    description=docs.EXPORT["description"],
)
async def export_data(
    request_id: uuid.UUID,
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    format: Annotated[Literal["json", "zip"], Query()] = "json",
) -> StreamingResponse:
    chunks, filename = await export.export(
        session, ctx, request_id=request_id, format=format, actor=principal.name
    )
    media_type = "application/zip" if format == "zip" else "application/json"
    return attachment(chunks, filename, media_type)
