"""What goes in and out of the privacy-request endpoints."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.core.errors import ValidationFailed
from app.core.lifecycle import Status
from app.manual.schemas import ManualTaskOut

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


@dataclass(frozen=True)
class Documented:
    """Adds JSON Schema keywords (a ``pattern``, a ``format``, ...) to a type's schema, without changing how it
    is validated: the validators below keep their own messages, and the schema states what they enforce, so a
    client generated from the OpenAPI document knows what passes."""

    keywords: dict[str, Any]

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.keywords)))

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


# The same character classes as _CONTROL and _CONTROL_IN_PROSE, in JSON Schema (ECMA-262) pattern syntax.
_PLAIN = r"[^\x00-\x1f\x7f]"
_PROSE = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
PLAIN_TEXT_PATTERN = rf"^{_PLAIN}*$"
PROSE_PATTERN = rf"^{_PROSE}*$"
# Where surrounding whitespace is stripped first (the submit body), a value must also hold a character that is
# not whitespace.
PLAIN_TEXT_NOT_BLANK = rf"^{_PLAIN}*[^\s\x00-\x1f\x7f]{_PLAIN}*$"
PROSE_NOT_BLANK = rf"^{_PROSE}*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{_PROSE}*$"

PlainText = Annotated[str, AfterValidator(no_control_characters), Documented({"pattern": PLAIN_TEXT_PATTERN})]
Prose = Annotated[str, AfterValidator(no_control_characters_in_prose), Documented({"pattern": PROSE_PATTERN})]
# For a model that strips surrounding whitespace (``str_strip_whitespace``) before checking ``min_length``.
StrippedPlainText = Annotated[
    str, AfterValidator(no_control_characters), Documented({"pattern": PLAIN_TEXT_NOT_BLANK})
]
StrippedProse = Annotated[
    str, AfterValidator(no_control_characters_in_prose), Documented({"pattern": PROSE_NOT_BLANK})
]


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def rfc3339(value: object) -> object:
    """Only what the schema's ``format: date-time`` means (RFC 3339, with a time zone): not a Unix timestamp,
    a date alone, or a time without a zone, which pydantic would otherwise read."""
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T00:00:00Z")


Rfc3339 = Annotated[datetime, BeforeValidator(rfc3339)]


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


def email_filter(field: str, email: str | None) -> str | None:
    """A list filter's address, normalised; anything else is the contract's 422 naming the field."""
    if email is None:
        return None
    try:
        return normalise_email(email)
    except ValueError:
        raise ValidationFailed(
            f"{field} is not an email address.", fields=[{"field": field, "detail": "not an email address"}]
        ) from None


# email-validator's rules in the schema, as far as a pattern can state them: a dot-atom local part of ASCII
# characters, a domain of ASCII labels ending in a top-level domain of letters, at most 254 characters; not a
# special-use domain (.test, .local, ...), and, beyond email-validator, no RFC 2047 encoded word ``=?``.
# (email-validator also takes an internationalised domain in Unicode form, which the pattern leaves out.)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^{_ATEXT}(?:{_ATEXT}|\.{_ATEXT}){{0,31}}@(?:{_LABEL}\.){{1,4}}[A-Za-z]{{2,63}}$"
EMAIL_REFUSED = r"=\?|\.(?:arpa|invalid|local|localhost|onion|test)$"
EMAIL_SCHEMA: dict[str, Any] = {
    "format": "email",
    "maxLength": 254,
    "pattern": EMAIL_PATTERN,
    "not": {"pattern": EMAIL_REFUSED},
    "description": "An email address (compared and stored lowercased). Not a special-use domain (.test, "
    ".local, .invalid, .localhost, .onion, .arpa), and no '=?'.",
}
# Checked where it is used (the list filter's own error); the schema says what passes.
EmailText = Annotated[str, Documented(EMAIL_SCHEMA)]
Email = Annotated[str, AfterValidator(normalise_email), Documented(EMAIL_SCHEMA)]


class SubmitRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    type: RequestType = Field(description="`access`: a copy of the data; `deletion`: erase it.")
    email: Email | None = Field(
        default=None, description="The address the request concerns (app keys: required without a token)."
    )
    customer_id: StrippedPlainText | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The customer's id in the directory: operators, or the signed-in customer's own id.",
    )
    regulation: Regulation = Field(
        default="gdpr",
        description="Sets the deadline (README, Deadlines): GDPR at most one month, CCPA 45 days, LGPD 15 days.",
    )
    locale: Locale = Field(default="en", description="The language of the customer's emails and pages.")
    channel: StrippedPlainText | None = Field(
        default=None, min_length=1, max_length=50, description="Where the request came from: `ios`, `web`..."
    )
    note: StrippedProse | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Operators only: how the identity was checked, or who the authorised agent is. "
        "Recorded on the timeline with the operator's name.",
    )


class AcceptBody(BaseModel):
    handling: Handling = Field(
        description="`automatic`: collect, package and email the link now; `manual`: the team fulfils it."
    )


class FulfilBody(BaseModel):
    # Strict: the schema says boolean, so 0 or "no" is refused rather than read as false.
    send_download_link: StrictBool = Field(
        default=True,
        description="`true`: build the package and email the link; `false`: delivered another way.",
    )
    note: Prose | None = Field(
        default=None, max_length=2000, description="How the data was delivered; recorded on the timeline."
    )


class ExtendBody(BaseModel):
    reason: Prose = Field(
        min_length=1,
        max_length=2000,
        description="Why more time is needed; the customer's email quotes it. Line breaks and tabs are "
        "allowed, no other control characters.",
    )


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
    tasks: list[ManualTaskOut] = Field(
        default_factory=list,
        description="The manual steps (one per manual source), oldest first; the request stays `in_progress` "
        "until every one is `done`.",
    )


class PrivacyRequestPage(BaseModel):
    items: list[PrivacyRequestOut]
    next_cursor: str | None


class Stats(BaseModel):
    by_status: dict[str, int]
    by_type: dict[str, int]
    overdue: int
    due_within_7_days: int
    open_manual_tasks: int = Field(description="Manual steps not yet marked done, across every request.")


class SelectionFilter(BaseModel):
    """The list's filters (``GET /v1/privacy-requests``) as an object: what a bulk action acts on. An unknown
    key is refused (422), never ignored: a misspelt filter must not widen the selection."""

    model_config = ConfigDict(extra="forbid")

    status: list[RequestStatus] | None = Field(
        default=None, max_length=7, description="Only these statuses; `deleted` only if named."
    )
    type: RequestType | None = Field(default=None, description="Only access or only deletion requests.")
    email: Email | None = Field(default=None, description="Only requests concerning this address.")
    customer_id: PlainText | None = Field(
        default=None, min_length=1, max_length=200, description="Only this customer's requests."
    )
    overdue: StrictBool | None = Field(
        default=None, description="`true`: only open requests past `due_at`; `false`: only the others."
    )
    due_before: Rfc3339 | None = Field(default=None, description="Only requests due before this time.")
    received_after: Rfc3339 | None = Field(
        default=None, description="Only requests received at or after this time."
    )
    received_before: Rfc3339 | None = Field(
        default=None, description="Only requests received before this time."
    )
    q: StrippedPlainText | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        description="Search: an email address or its beginning (any case), or a customer id (exactly).",
    )


# The most requests one bulk call acts on: larger selections are narrowed by the filters (received_before, ...).
BULK_MAX = 10_000

# The schema states the guard: `expected_count` (an integer) unless `dry_run` is true.
_COUNT_OR_DRY_RUN: dict[str, Any] = {
    "anyOf": [
        {"required": ["expected_count"], "properties": {"expected_count": {"type": "integer"}}},
        {"required": ["dry_run"], "properties": {"dry_run": {"const": True}}},
    ]
}


class BulkSelectionBody(BaseModel):
    """What every bulk action's body holds: the selection and the guards against a stale screen."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_COUNT_OR_DRY_RUN)

    filter: SelectionFilter = Field(
        default_factory=SelectionFilter, description="The selection: the list's filters (all pages)."
    )
    expected_count: int | None = Field(
        default=None,
        ge=0,
        le=BULK_MAX,
        description="How many requests the selection held when the person looked (a dry run gives it). If "
        "it now holds another number, nothing changes (409). Required unless `dry_run`.",
    )
    selection_digest: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The `selection_digest` the dry run answered: if the selection now holds other requests, "
        "even as many, nothing changes (409). Optional; clients should send it.",
    )
    dry_run: StrictBool = Field(
        default=False,
        description="`true`: only count the selection (`matched`, `selection_digest`); nothing changes.",
    )


class BulkAcceptBody(BulkSelectionBody):
    handling: Handling = Field(
        description="`automatic`: collect, package and email the link now; `manual`: the team fulfils it."
    )


class BulkDismissBody(BulkSelectionBody):
    reason: Prose = Field(
        min_length=1,
        max_length=2000,
        description="Why: on each timeline, and in each customer's email when `notify` is true.",
    )
    notify: StrictBool = Field(
        description="`true`: each customer is told the reason and their rights; `false`: nobody is told."
    )


class BulkSkipped(BaseModel):
    id: uuid.UUID
    status: str = Field(description="The request's status now.")
    reason: str = Field(description="Why it was not changed.")


class BulkResult(BaseModel):
    matched: int = Field(description="Requests in the selection.")
    selection_digest: str = Field(
        description="The selection's fingerprint (SHA-256, hex, of its sorted ids): send it back with "
        "`expected_count` so that the call acts on exactly the requests counted."
    )
    changed: int = Field(description="Requests accepted (or dismissed).")
    skipped_count: int = Field(
        description="Requests left as they were: their status does not allow the action, "
        "or another operator changed them meanwhile (moved out of the selection, or at the same time)."
    )
    skipped: list[BulkSkipped] = Field(description="The first 100 of the skipped requests, with the reason.")
    dry_run: bool = Field(description="`true`: only counted; nothing changed.")


class ErrorField(BaseModel):
    field: str
    detail: str


class ErrorBody(BaseModel):
    error: str
    detail: str
    fields: list[ErrorField] | None = None
