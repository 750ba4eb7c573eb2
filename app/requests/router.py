"""Privacy-request endpoints: authorise, parse, call one service function, answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.convertors import StringConvertor, register_url_convertor

from app.auth.dependencies import AppKey, OperatorKey, SignedInCustomer
from app.auth.keys import Role
from app.core import clock
from app.core.db import SessionDep, SessionmakerDep
from app.core.dependencies import ContextDep
from app.core.errors import ValidationFailed
from app.core.ratelimit import SubmitLimit
from app.core.responses import FastJSONResponse, attachment
from app.requests import actions, bulk, export, export_csv, service
from app.requests import openapi as docs
from app.requests.repository import ListFilters
from app.requests.schemas import (
    AcceptBody,
    AppPrivacyRequestOut,
    BulkAcceptBody,
    BulkDismissBody,
    BulkResult,
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
    SelectionFilter,
    SortKey,
    Stats,
    StrippedPlainText,
    SubmitRequest,
    email_filter,
)
from app.requests.views import operator_view


class RequestIdConvertor(StringConvertor):
    """A request's id in a path: any segment but ``export.csv``, so that ``/privacy-requests/export.csv`` is
    not also the address of one request (a 405 there names GET only). The id is still checked as a UUID by
    the endpoint (422 for a malformed one); the OpenAPI document shows the plain ``{request_id}``."""

    regex = r"(?!export\.csv$)[^/]+"


register_url_convertor("request_id", RequestIdConvertor())

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


async def query_filters(
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
    q: Annotated[
        StrippedPlainText | None,
        Query(
            min_length=1,
            max_length=320,
            description="Search: requests whose email starts with this text (any case; a whole address "
            "matches itself) or whose customer id is exactly this text.",
        ),
    ] = None,
) -> ListFilters:
    """The list's filters from the query string (the list and its CSV export)."""
    return ListFilters(
        statuses=tuple(dict.fromkeys(status or ())),
        type=type,
        email=email_filter("email", email),
        customer_id=customer_id,
        overdue=overdue,
        due_before=_aware("due_before", due_before),
        received_after=_aware("received_after", received_after),
        received_before=_aware("received_before", received_before),
        search=_search("q", q),
    )


QueryFilters = Annotated[ListFilters, Depends(query_filters)]
SortParam = Annotated[SortKey, Query(description="The order; `-` for newest (or latest due) first.")]


def body_filters(selection: SelectionFilter) -> ListFilters:
    """The list's filters from a bulk action's ``filter`` object (validated by its schema already)."""
    return ListFilters(
        statuses=tuple(dict.fromkeys(selection.status or ())),
        type=selection.type,
        email=selection.email,
        customer_id=selection.customer_id,
        overdue=selection.overdue,
        due_before=_aware("filter.due_before", selection.due_before),
        received_after=_aware("filter.received_after", selection.received_after),
        received_before=_aware("filter.received_before", selection.received_before),
        search=_search("filter.q", selection.q),
    )


@router.get("/privacy-requests", response_model=PrivacyRequestPage, **docs.LIST)
async def list_requests(
    _principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
    filters: QueryFilters,
    sort: SortParam = "-received_at",
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
    page = await service.list_requests(session, ctx, filters=filters, sort=sort, limit=limit, cursor=cursor)
    return FastJSONResponse(page)


@router.get(
    "/privacy-requests/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "The filtered list as CSV, as an attachment",
        }
    },
    **docs.EXPORT_CSV,
)
async def export_list_csv(
    _principal: OperatorKey,
    session: SessionDep,
    sessions: SessionmakerDep,  # the pages after the first are read after the answer has started
    ctx: ContextDep,
    filters: QueryFilters,
    sort: SortParam = "-received_at",
) -> StreamingResponse:
    chunks, filename = await export_csv.export_csv(session, sessions, ctx, filters=filters, sort=sort)
    return attachment(chunks, filename, "text/csv; charset=utf-8")


@router.post("/privacy-requests/bulk/accept", response_model=BulkResult, **docs.BULK_ACCEPT)
async def bulk_accept(
    body: Annotated[BulkAcceptBody, Body(openapi_examples=docs.BULK_ACCEPT_EXAMPLES)],
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    outcome = await bulk.accept(
        session,
        ctx,
        filters=body_filters(body.filter),
        handling=body.handling,
        expected_count=body.expected_count,
        selection_digest=body.selection_digest,
        dry_run=body.dry_run,
        actor=principal.name,
    )
    return outcome.answer()


@router.post("/privacy-requests/bulk/dismiss", response_model=BulkResult, **docs.BULK_DISMISS)
async def bulk_dismiss(
    body: Annotated[BulkDismissBody, Body(openapi_examples=docs.BULK_DISMISS_EXAMPLES)],
    principal: OperatorKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    outcome = await bulk.dismiss(
        session,
        ctx,
        filters=body_filters(body.filter),
        reason=body.reason,
        notify=body.notify,
        expected_count=body.expected_count,
        selection_digest=body.selection_digest,
        dry_run=body.dry_run,
        actor=principal.name,
    )
    return outcome.answer()


def _search(name: str, text: str | None) -> str | None:
    if text is None:
        return None
    if not text.strip():
        raise ValidationFailed(f"{name} is blank.", fields=[{"field": name, "detail": "blank"}])
    return text.strip()


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
    "/privacy-requests/{request_id:request_id}",
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


@router.delete("/privacy-requests/{request_id:request_id}", response_model=PrivacyRequestOut, **docs.DISMISS)
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
