"""What goes in and out of the privacy-request endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

RequestType = Literal["access", "deletion"]
RequestStatus = Literal["unverified", "pending", "in_progress", "processed", "failed", "deleted", "expired"]
Regulation = Literal["gdpr", "ccpa", "lgpd"]
Locale = Literal["en", "de"]
Handling = Literal["automatic", "manual"]
SortKey = Literal["received_at", "-received_at", "due_at", "-due_at"]

_EMAIL = re.compile(r"^[^@\s<>\"',;()\[\]]+@[^@\s<>\"',;()\[\]]+\.[^@\s<>\"',;()\[\].]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def no_control_characters(value: str) -> str:
    """Text that goes into emails, logs and databases carries no control characters (NUL, newlines...)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


_CONTROL_IN_PROSE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control_characters_in_prose(value: str) -> str:
    """Free text (a reason, a note) may span lines and use tabs, but carries no other control characters."""
    if _CONTROL_IN_PROSE.search(value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(no_control_characters)]
Prose = Annotated[str, AfterValidator(no_control_characters_in_prose)]


def normalise_email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 320 or _CONTROL.search(value) or not _EMAIL.match(value):
        raise ValueError("is not an email address")
    return value


Email = Annotated[str, AfterValidator(normalise_email)]


class SubmitRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    type: RequestType
    email: Email | None = None
    customer_id: PlainText | None = Field(default=None, min_length=1, max_length=200)
    regulation: Regulation = "gdpr"
    locale: Locale = "en"
    channel: PlainText | None = Field(default=None, min_length=1, max_length=50)

    @model_validator(mode="after")
    def _someone(self) -> SubmitRequest:
        if self.email is None and self.customer_id is None:
            raise ValueError("give at least one of email and customer_id")
        return self


class AcceptBody(BaseModel):
    handling: Handling


class FulfilBody(BaseModel):
    send_download_link: bool = True
    note: Prose | None = Field(default=None, max_length=2000)


class ExtendBody(BaseModel):
    reason: Prose = Field(min_length=1, max_length=2000)


class CustomerOut(BaseModel):
    id: str
    email: str | None
    name: str | None


class AppPrivacyRequestOut(BaseModel):
    """The request as the app role sees it: no ``customer``, so no answer reveals whether someone is a customer."""

    id: uuid.UUID
    type: RequestType
    status: RequestStatus
    regulation: Regulation
    email: str | None
    channel: str | None
    locale: Locale
    handling: Handling | None
    received_at: datetime
    due_at: datetime
    verified_at: datetime | None
    accepted_at: datetime | None
    processed_at: datetime | None
    deleted_at: datetime | None
    extended_at: datetime | None
    days_left: int
    overdue: bool


class PrivacyRequestOut(AppPrivacyRequestOut):
    """The privacy request resource (contract section 3)."""

    customer: CustomerOut | None


class EventOut(BaseModel):
    at: datetime
    action: str
    actor: str
    detail: str | None


class PrivacyRequestDetail(PrivacyRequestOut):
    events: list[EventOut]
    result: dict[str, Any] | None


class AppPrivacyRequestDetail(AppPrivacyRequestOut):
    events: list[EventOut]
    result: dict[str, Any] | None


class PrivacyRequestPage(BaseModel):
    items: list[PrivacyRequestOut]
    next_cursor: str | None


class Stats(BaseModel):
    by_status: dict[str, int]
    by_type: dict[str, int]
    overdue: int
    due_within_7_days: int


class ErrorField(BaseModel):
    field: str
    detail: str


class ErrorBody(BaseModel):
    error: str
    detail: str
    fields: list[ErrorField] | None = None
