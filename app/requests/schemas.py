"""What goes in and out of the privacy-request endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.lifecycle import Status

RequestType = Literal["access", "deletion"]
RequestStatus = Status  # the lifecycle is the one place statuses are written
Regulation = Literal["gdpr", "ccpa", "lgpd"]
Locale = Literal["en", "de"]
Handling = Literal["automatic", "manual"]
SortKey = Literal["received_at", "-received_at", "due_at", "-due_at"]

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
    """One mailbox, checked by email-validator and lowercased (its domain in Unicode form).

    Beyond what email-validator refuses: any ``=?`` (an RFC 2047 encoded word is legal in a local part, but a
    header parser may decode it into several addresses or a NUL), and non-ASCII before the ``@`` (Python's
    email package cannot put such an address in a ``To:`` header, so it could never be written to).
    """
    value = value.strip()
    if len(value) > 320 or _CONTROL.search(value):
        raise ValueError("is not an email address")
    if "=?" in value:
        raise ValueError("is not an email address: it must not contain '=?' (an encoded word)")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValueError(f"is not an email address: {error}") from None
    return checked.normalized.lower()


Email = Annotated[str, AfterValidator(normalise_email)]


class SubmitRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    type: RequestType
    email: Email | None = None
    customer_id: PlainText | None = Field(default=None, min_length=1, max_length=200)
    regulation: Regulation = "gdpr"
    locale: Locale = "en"
    channel: PlainText | None = Field(default=None, min_length=1, max_length=50)
    note: Prose | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Operators only: how the identity was checked, or who the authorised agent is. "
        "Recorded on the timeline with the operator's name.",
    )


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
    """The request as the app role sees it (contract sections 3 and 7): an app key is public, so nothing here
    tells its holder anything about a person (no email, customer, channel, timeline or result)."""

    id: uuid.UUID
    type: RequestType
    status: RequestStatus
    regulation: Regulation
    locale: Locale
    received_at: datetime
    due_at: datetime
    verified_at: datetime | None
    days_left: int
    overdue: bool


class PrivacyRequestOut(AppPrivacyRequestOut):
    """The privacy request resource (contract section 3), as operators see it."""

    email: str | None
    customer: CustomerOut | None
    channel: str | None
    handling: Handling | None
    accepted_at: datetime | None
    processed_at: datetime | None
    deleted_at: datetime | None
    extended_at: datetime | None


class EventOut(BaseModel):
    at: datetime
    action: str
    actor: str
    detail: str | None


class PrivacyRequestDetail(PrivacyRequestOut):
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
