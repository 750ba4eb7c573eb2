"""Admin endpoints for webhooks: subscribe, list, delete, and each subscription's deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from app.auth.dependencies import AdminKey
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.models import WebhookSubscription
from app.webhooks import service
from app.webhooks.events import EVENT_TYPES
from app.webhooks.schemas import DeliveryPage, WebhookCreate, WebhookCreated, WebhookOut

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_ADMIN = "**Roles:** `admin`."
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`: no webhook has this id."}}


def _out(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "events": subscription.events,
        "description": subscription.description,
        "created_at": subscription.created_at,
        "deleted_at": subscription.deleted_at,
    }


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=201,
    summary="Create a webhook",
    description="Subscribes a receiver (`url`) to event types: "
    + ", ".join(f"`{event}`" for event in EVENT_TYPES)
    + '. Each event is POSTed as JSON `{"type", "timestamp", "data": {"id", "type", "status", '
    '"regulation", "received_at", "due_at"}}`, signed per the Standard Webhooks specification '
    "(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the secret in this answer, which is shown "
    "this once. A 2xx answer delivers it; anything else is retried with backoff, with the same `webhook-id`.\n\n"
    f"{_ADMIN}\n\n**Errors:**\n- 422 `validation_error`: a URL that is not http or https, no event or an "
    "unknown one, a description longer than 200 characters or holding control characters.",
)
async def create_webhook(
    body: Annotated[
        WebhookCreate,
        Body(
            openapi_examples={
                "crm": {
                    "summary": "Tell the CRM when an erasure is done",
                    "value": {
                        "url": "https://crm.example.org/hooks/privacy",
                        "events": ["erasure.completed", "request.deleted"],
                        "description": "CRM clean-up",
                    },
                },
            }
        ),
    ],
    _principal: AdminKey,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    subscription, secret = await service.create(
        session, ctx, url=str(body.url), events=list(body.events), description=body.description
    )
    return {**_out(subscription), "secret": secret}


@router.get(
    "",
    response_model=list[WebhookOut],
    summary="List webhooks",
    description=f"The webhooks not deleted, oldest first; their secrets are never shown again.\n\n{_ADMIN}",
)
async def list_webhooks(_principal: AdminKey, session: SessionDep) -> list[dict[str, Any]]:
    return [_out(subscription) for subscription in await service.list_active(session)]


@router.delete(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Delete a webhook",
    description="Nothing more is sent to it, and deliveries still waiting for a retry are cancelled; its "
    "deliveries stay listed. Deleting it again changes nothing and answers it as it is.\n\n"
    f"{_ADMIN}\n\n**Errors:**\n- 404 `not_found`: no webhook has this id.",
    responses=_NOT_FOUND,
)
async def delete_webhook(webhook_id: uuid.UUID, _principal: AdminKey, session: SessionDep) -> dict[str, Any]:
    return _out(await service.delete(session, webhook_id))


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="List a webhook's deliveries",
    description="Its deliveries, newest first, each with its status (`pending`, `delivered`, `failed` after "
    "the last retry, `cancelled` by a delete) and its attempts: when, the receiver's status code, and the "
    "error when it did not deliver. Page on with `cursor` (the previous page's `next_cursor`).\n\n"
    f"{_ADMIN}\n\n**Errors:**\n- 404 `not_found`: no webhook has this id.\n"
    "- 422 `validation_error`: a `limit` outside 1-200, or a `cursor` this list did not give out.",
    responses=_NOT_FOUND,
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    _principal: AdminKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    return await service.deliveries(session, webhook_id, limit=limit, cursor=cursor)
