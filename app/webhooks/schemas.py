"""What goes in and out of the webhook endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, UrlConstraints

from app.webhooks.events import EventType

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The same, in JSON Schema (ECMA-262) syntax: the schema states what the validator enforces.
_PLAIN_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def _plain(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _distinct(events: list[EventType]) -> list[EventType]:
    return list(dict.fromkeys(events))


WebhookUrl = Annotated[
    HttpUrl,
    UrlConstraints(max_length=2000),
    Field(json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+"}),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl = Field(description="Where the events are POSTed: an http or https URL.")
    events: Annotated[list[EventType], AfterValidator(_distinct)] = Field(
        min_length=1, max_length=50, description="The event types this receiver gets; at least one."
    )
    description: (
        Annotated[
            str, Field(max_length=200, json_schema_extra={"pattern": _PLAIN_PATTERN}), AfterValidator(_plain)
        ]
        | None
    ) = Field(default=None, description="What the receiver is, for the people who read the list.")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    created_at: datetime
    deleted_at: datetime | None


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (`whsec_` + base64, Standard Webhooks); shown this once and never again."
    )


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null when none came.")
    error: str | None = Field(description="Why the attempt did not deliver; null when it did.")
    duration_ms: int


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    event_type: str
    request_id: uuid.UUID
    status: str = Field(description="`pending`, `delivered`, `failed` (retries exhausted) or `cancelled`.")
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
